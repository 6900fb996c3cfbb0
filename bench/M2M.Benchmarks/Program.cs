using BenchmarkDotNet.Running;
using M2M.Benchmarks;

// ledger [sqlite|memory] [--seconds S] [--packets N]: per-packet ledger work (reserve 2 linked pending
//   transfers, then post them) at 1, 16 and 256 concurrent packets, on a fresh file in /tmp.
// codec|routing|ledger-bdn: BenchmarkDotNet suites with the memory diagnoser (ledger-bdn: memory and
//   SQLite, transfers per call or concurrent calls of 1, 16, 256; time and bytes are per transfer).
return args.FirstOrDefault() switch
{
    "ledger" => await LedgerThroughput.RunAsync(args[1..]),
    "codec" => Run<CodecBenchmarks>(args[1..]),
    "routing" => Run<RoutingBenchmarks>(args[1..]),
    "ledger-bdn" => Run<LedgerBenchmarks>(args[1..]),
    _ => Usage(),
};

static int Run<T>(string[] args)
{
    BenchmarkRunner.Run<T>(args: args);
    return 0;
}

static int Usage()
{
    Console.Error.WriteLine("usage: M2M.Benchmarks ledger [sqlite|memory] [--seconds S] | codec | routing | ledger-bdn");
    return 1;
}
