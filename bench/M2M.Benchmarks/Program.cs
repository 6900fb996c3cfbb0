using BenchmarkDotNet.Running;
using M2M.Benchmarks;

// ledger [sqlite|memory] [--seconds S] [--packets N]: per-packet ledger work (reserve 2 linked pending
//   transfers, then post them) at 1, 16 and 256 concurrent packets, on a fresh file in /tmp.
// codec|routing: BenchmarkDotNet suites with the memory diagnoser.
return args.FirstOrDefault() switch
{
    "ledger" => await LedgerThroughput.RunAsync(args[1..]),
    "codec" => Run<CodecBenchmarks>(args[1..]),
    "routing" => Run<RoutingBenchmarks>(args[1..]),
    _ => Usage(),
};

static int Run<T>(string[] args)
{
    BenchmarkRunner.Run<T>(args: args);
    return 0;
}

static int Usage()
{
    Console.Error.WriteLine("usage: M2M.Benchmarks ledger [sqlite|memory] [--seconds S] | codec | routing");
    return 1;
}
