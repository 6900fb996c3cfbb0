using System.Diagnostics;
using M2M.Core.Ledger;
using M2M.Ledger.Postgres;
using M2M.Ledger.Sqlite;

namespace M2M.Benchmarks;

/// <summary>
/// What a packet costs the ledger: one call with two linked pending transfers (reserve), then one
/// with two linked posts (the Fulfill). Each level runs for a bounded time and packet count.
/// </summary>
internal static class LedgerThroughput
{
    public static async Task<int> RunAsync(string[] args)
    {
        string backend = args.FirstOrDefault(a => !a.StartsWith("--")) ?? "sqlite";
        double seconds = Option(args, "--seconds", 5);
        long maxPackets = (long)Option(args, "--packets", 1_000_000);
        Console.WriteLine($"backend {backend}, {Environment.ProcessorCount} cores, up to {seconds} s or {maxPackets} packets per level");
        Console.WriteLine("| concurrent packets | packets/s | transfers/s | p50 ms | p99 ms |");
        Console.WriteLine("|---:|---:|---:|---:|---:|");
        foreach (int concurrency in new[] { 1, 16, 256 })
        {
            string dir = Directory.CreateTempSubdirectory("m2m-bench-").FullName;
            await using ILedger ledger = backend switch
            {
                "memory" => new MemoryLedger(),
                // A fresh schema per level keeps levels independent: pass a URL to an empty database.
                "postgres" => await PostgresLedger.OpenAsync(Environment.GetEnvironmentVariable("LEDGER_POSTGRES_URL")
                    ?? throw new InvalidOperationException("set LEDGER_POSTGRES_URL for the postgres backend")),
                _ => SqliteLedger.Open(Path.Combine(dir, "ledger.db")),
            };
            var (packets, elapsed, latencies) = await Level(ledger, concurrency, TimeSpan.FromSeconds(seconds), maxPackets);
            latencies.Sort();
            Console.WriteLine($"| {concurrency} | {packets / elapsed.TotalSeconds:N0} | {4 * packets / elapsed.TotalSeconds:N0} | {Pct(latencies, 0.5):F2} | {Pct(latencies, 0.99):F2} |");
            Directory.Delete(dir, recursive: true);
        }
        return 0;
    }

    private static async Task<(long Packets, TimeSpan Elapsed, List<double> Latencies)> Level(ILedger ledger, int concurrency, TimeSpan duration, long maxPackets)
    {
        var peer = PeerAccounts.PeerAccount("alice", "USD", 9, null);
        var bob = PeerAccounts.PeerAccount("bob", "USD", 9, null);
        var clearing = PeerAccounts.ClearingAccount("USD", 9);
        await ledger.CreateAccountsAsync([peer, bob, clearing]);
        long packets = 0;
        var latencies = new List<double>();
        var stopwatch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            var mine = new List<double>();
            while (stopwatch.Elapsed < duration && Interlocked.Increment(ref packets) <= maxPackets)
            {
                long start = Stopwatch.GetTimestamp();
                var a = Pending(peer, clearing, TransferFlags.Linked);
                var b = Pending(clearing, bob, TransferFlags.None);
                var reserved = await ledger.CreateTransfersAsync([a, b]);
                if (!reserved[0].IsApplied()) throw new InvalidOperationException($"reserve failed: {reserved[0]}");
                var posted = await ledger.CreateTransfersAsync([Resolve(a, TransferFlags.Linked), Resolve(b, TransferFlags.None)]);
                if (!posted[1].IsApplied()) throw new InvalidOperationException($"post failed: {posted[1]}");
                mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
            lock (latencies) latencies.AddRange(mine);
        })));
        return (latencies.Count, stopwatch.Elapsed, latencies);
    }

    private static Transfer Pending(Account debit, Account credit, TransferFlags extra) => new()
    {
        Id = PeerAccounts.NewTransferId(), DebitAccountId = debit.Id, CreditAccountId = credit.Id, Amount = 10,
        Ledger = debit.Ledger, Code = 1, Flags = TransferFlags.Pending | extra, TimeoutAt = DateTimeOffset.UtcNow.AddSeconds(30),
    };

    private static Transfer Resolve(Transfer p, TransferFlags extra) => new() { Id = PeerAccounts.NewTransferId(), PendingId = p.Id, Flags = TransferFlags.PostPending | extra };

    private static double Pct(List<double> sorted, double p) => sorted.Count == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

    private static double Option(string[] args, string name, double fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && double.TryParse(args[i + 1], out double v) ? v : fallback;
    }
}
