using M2M.TestKit;
using System.Diagnostics;
using M2M.Core.Ledger;
using M2M.Ledger.Postgres;
using Npgsql;
using Xunit.Abstractions;

namespace M2M.Ledger.Tests;

/// <summary>What only a shared database can show: two connector nodes on one ledger, migrations, group commit.</summary>
[Collection(PostgresCollection.Name)]
[Trait("Tier", "integration")]
public sealed class PostgresLedgerTests(PostgresServer server, ITestOutputHelper output)
{
    private const uint Usd = 1;
    private static long _nextId = 1_000_000;

    private static UInt128 NewId() => (UInt128)Interlocked.Increment(ref _nextId);

    private static async Task<UInt128> AccountAsync(ILedger ledger, ulong? limit = null)
    {
        var a = new Account
        {
            Id = NewId(),
            Ledger = Usd,
            Code = 1,
            Flags = limit is null ? AccountFlags.None : AccountFlags.DebitsMustNotExceedCredits,
            DebitLimit = limit ?? 0,
        };
        Assert.Equal(CreateAccountResult.Ok, (await ledger.CreateAccountsAsync([a]))[0]);
        return a.Id;
    }

    private static Transfer Pending(UInt128 debit, UInt128 credit, ulong amount, DateTimeOffset? timeout = null, TransferFlags extra = TransferFlags.None) => new()
    {
        Id = NewId(),
        DebitAccountId = debit,
        CreditAccountId = credit,
        Amount = amount,
        Ledger = Usd,
        Code = 1,
        Flags = TransferFlags.Pending | extra,
        TimeoutAt = timeout ?? DateTimeOffset.UtcNow.AddMinutes(10),
    };

    private static async Task<CreateTransferResult> One(ILedger ledger, Transfer t) => (await ledger.CreateTransfersAsync([t]))[0];

    [Fact]
    public async Task Two_nodes_on_one_database_never_overdraw_and_balances_add_up()
    {
        const ulong limit = 1_000;
        var cs = await server.CreateDatabaseAsync();
        await using var node1 = await PostgresLedger.OpenAsync(cs);
        await using var node2 = await PostgresLedger.OpenAsync(cs);
        UInt128 peer = await AccountAsync(node1, limit), clearing = await AccountAsync(node1);
        ILedger[] nodes = [node1, node2];
        long accepted = 0, posted = 0, refused = 0;
        var random = new Random(7);
        // 16 tasks (8 per node) × 125 = 2,000 pending transfers, amounts 1–50, against a limit of 1,000.
        var work = Enumerable.Range(0, 16).Select(i => (Node: nodes[i % 2], Amounts: Enumerable.Range(0, 125).Select(_ => (ulong)random.Next(1, 51)).ToArray())).ToArray();

        await Task.WhenAll(work.Select(w => Task.Run(async () =>
        {
            foreach (var amount in w.Amounts)
            {
                var p = Pending(peer, clearing, amount);
                var result = await One(w.Node, p);
                if (result != CreateTransferResult.Ok)
                {
                    Assert.Equal(CreateTransferResult.ExceedsCredits, result);
                    Interlocked.Increment(ref refused);
                    continue;
                }
                Interlocked.Increment(ref accepted);
                // Sample through the other node: the database, not this process, holds the truth.
                var sample = (await (w.Node == node1 ? node2 : node1).LookupAccountAsync(peer))!;
                Assert.True(sample.DebitsPending + sample.DebitsPosted <= limit + sample.CreditsPosted, "overdraft observed");
                if (amount % 2 == 0)
                {
                    Assert.Equal(CreateTransferResult.Ok, await One(w.Node, new Transfer { Id = NewId(), PendingId = p.Id, Flags = TransferFlags.PostPending }));
                    Interlocked.Add(ref posted, (long)amount);
                }
                else
                {
                    Assert.Equal(CreateTransferResult.Ok, await One(w.Node, new Transfer { Id = NewId(), PendingId = p.Id, Flags = TransferFlags.VoidPending }));
                }
            }
        })));

        var final = (await node2.LookupAccountAsync(peer))!;
        Assert.Equal((UInt128)(ulong)posted, final.DebitsPosted);
        Assert.Equal(UInt128.Zero, final.DebitsPending);
        Assert.True(final.DebitsPosted <= limit);
        Assert.Equal(2_000, accepted + refused);
        Assert.True(accepted > 0 && refused > 0, $"accepted {accepted}, refused {refused}: the limit was never reached");
        var report = await Books.AssertConsistentAsync(node1);
        Assert.Equal(2 * accepted, report.Transfers);
        output.WriteLine($"two nodes: accepted {accepted}, refused {refused}, posted {posted}; node1 avg batches/commit {node1.AverageBatchesPerCommit:F1}, node2 {node2.AverageBatchesPerCommit:F1}");
    }

    [Fact]
    public async Task Two_nodes_sweeping_together_expire_each_pending_exactly_once()
    {
        var cs = await server.CreateDatabaseAsync();
        await using var node1 = await PostgresLedger.OpenAsync(cs, new PostgresLedgerOptions { ExpireBatchSize = 50 });
        await using var node2 = await PostgresLedger.OpenAsync(cs, new PostgresLedgerOptions { ExpireBatchSize = 50 });
        UInt128 a = await AccountAsync(node1, limit: 100_000), b = await AccountAsync(node1);
        var soon = DateTimeOffset.UtcNow.AddMilliseconds(100);
        var batch = Enumerable.Range(0, 600).Select(i => Pending(a, b, (ulong)(i % 7 + 1), timeout: soon)).ToArray();
        Assert.All(await node1.CreateTransfersAsync(batch), r => Assert.Equal(CreateTransferResult.Ok, r));
        var keep = Pending(a, b, 5);
        Assert.Equal(CreateTransferResult.Ok, await One(node2, keep));
        await Task.Delay(200);

        var now = DateTimeOffset.UtcNow;
        var counts = await Task.WhenAll(Task.Run(async () => await node1.ExpirePendingAsync(now)), Task.Run(async () => await node2.ExpirePendingAsync(now)));

        Assert.Equal(600, counts.Sum());
        Assert.Equal(0, await node1.ExpirePendingAsync(now));
        var account = (await node2.LookupAccountAsync(a))!;
        Assert.Equal((UInt128)5, account.DebitsPending);
        var report = await Books.AssertConsistentAsync(node2);
        Assert.Equal(1, report.OpenPending);
        output.WriteLine($"sweep split: node1 {counts[0]}, node2 {counts[1]}");
    }

    [Fact]
    public async Task The_same_transfer_from_two_nodes_at_once_is_applied_once()
    {
        var cs = await server.CreateDatabaseAsync();
        await using var node1 = await PostgresLedger.OpenAsync(cs);
        await using var node2 = await PostgresLedger.OpenAsync(cs);
        UInt128 a = await AccountAsync(node1), b = await AccountAsync(node1), c = await AccountAsync(node1), d = await AccountAsync(node1);
        for (int i = 0; i < 50; i++)
        {
            var t = new Transfer { Id = NewId(), DebitAccountId = a, CreditAccountId = b, Amount = 3, Ledger = Usd, Code = 1 };
            // The second node names other accounts: it does not share row locks with the first, so the id race reaches the unique index.
            var other = t with { DebitAccountId = c, CreditAccountId = d };
            var results = await Task.WhenAll(Task.Run(async () => await One(node1, t)), Task.Run(async () => await One(node2, other)));
            Assert.Single(results, CreateTransferResult.Ok);
            Assert.Single(results, CreateTransferResult.ExistsWithDifferentFields);
        }
        var report = await Books.AssertConsistentAsync(node1);
        Assert.Equal(50, report.Transfers);
    }

    [Fact]
    public async Task Concurrent_callers_are_group_committed()
    {
        var cs = await server.CreateDatabaseAsync();
        await using var ledger = await PostgresLedger.OpenAsync(cs);
        var sizes = new List<int>();
        ledger.BatchCommitted += n => { lock (sizes) sizes.Add(n); };
        UInt128 a = await AccountAsync(ledger), b = await AccountAsync(ledger);
        var results = await Task.WhenAll(Enumerable.Range(0, 300).Select(_ => Task.Run(async () =>
            await ledger.CreateTransfersAsync([Pending(a, b, 1, extra: TransferFlags.Linked), Pending(b, a, 1)]))));
        Assert.All(results, r => Assert.Equal([CreateTransferResult.Ok, CreateTransferResult.Ok], r));
        lock (sizes)
        {
            Assert.Equal(300, sizes.Sum());
            Assert.True(sizes.Max() > 1, "no commit held more than one caller batch");
            output.WriteLine($"300 callers in {sizes.Count} commits, largest {sizes.Max()}");
        }
    }

    [Fact]
    public async Task Migration_is_idempotent_and_a_newer_schema_is_refused()
    {
        var cs = await server.CreateDatabaseAsync();
        await (await PostgresLedger.OpenAsync(cs)).DisposeAsync();
        await using (var again = await PostgresLedger.OpenAsync(cs)) await again.PingAsync();
        await using (var conn = new NpgsqlConnection(cs))
        {
            await conn.OpenAsync();
            await using var count = new NpgsqlCommand("SELECT count(*) FROM schema_version", conn);
            Assert.Equal((long)PostgresLedger.Migrations.Latest, await count.ExecuteScalarAsync());
            await using var bump = new NpgsqlCommand($"INSERT INTO schema_version (version) VALUES ({PostgresLedger.Migrations.Latest + 5})", conn);
            await bump.ExecuteNonQueryAsync();
        }
        var e = await Assert.ThrowsAsync<LedgerUnavailableException>(() => PostgresLedger.OpenAsync(cs));
        Assert.Contains($"schema version {PostgresLedger.Migrations.Latest + 5}", e.Message);
    }

    [Fact]
    public async Task Throughput_of_linked_two_transfer_batches()
    {
        var cs = await server.CreateDatabaseAsync();
        await using var ledger = await PostgresLedger.OpenAsync(cs);
        var accounts = new List<UInt128>();
        for (int i = 0; i < 8; i++) accounts.Add(await AccountAsync(ledger));
        foreach (var callers in new[] { 1, 16, 256 })
        {
            long transfers = 0;
            long commitsBefore = ledger.Commits;
            var clock = Stopwatch.StartNew();
            var until = TimeSpan.FromSeconds(1.5);
            await Task.WhenAll(Enumerable.Range(0, callers).Select(c => Task.Run(async () =>
            {
                var r = new Random(c);
                while (clock.Elapsed < until)
                {
                    int x = r.Next(accounts.Count), y = (x + 1 + r.Next(accounts.Count - 1)) % accounts.Count;
                    var results = await ledger.CreateTransfersAsync([Pending(accounts[x], accounts[y], 10, extra: TransferFlags.Linked), Pending(accounts[y], accounts[x], 9)]);
                    Assert.All(results, res => Assert.Equal(CreateTransferResult.Ok, res));
                    Interlocked.Add(ref transfers, 2);
                }
            })));
            var seconds = clock.Elapsed.TotalSeconds;
            long commits = ledger.Commits - commitsBefore;
            var line = $"postgres throughput: {callers,3} callers: {transfers / seconds,8:F0} transfers/s ({commits} commits, {(double)transfers / 2 / Math.Max(1, commits):F1} batches/commit)";
            output.WriteLine(line);
            Console.WriteLine(line);
        }
    }
}
