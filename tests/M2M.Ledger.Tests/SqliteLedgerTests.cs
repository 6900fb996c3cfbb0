using M2M.Core.Ledger;
using M2M.Ledger.Sqlite;
using Microsoft.Data.Sqlite;

namespace M2M.Ledger.Tests;

/// <summary>The contract suite on a real SQLite file in a temp directory.</summary>
[Trait("Tier", "integration")]
public sealed class SqliteLedgerContractTests : LedgerContractTests, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("m2m-ledger-").FullName;

    private string DbPath => Path.Combine(_dir, "data", "ledger.db");

    protected override Task<ILedger> OpenAsync() => Task.FromResult<ILedger>(SqliteLedger.Open(DbPath));

    protected override async Task<ILedger> ReopenAsync(ILedger ledger)
    {
        await ledger.DisposeAsync();
        return SqliteLedger.Open(DbPath);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void A_second_owner_of_the_same_file_is_refused()
    {
        var e = Assert.Throws<LedgerUnavailableException>(() => SqliteLedger.Open(DbPath));
        Assert.Contains("in use by another connector process", e.Message);
    }

    [Fact]
    public async Task The_file_uses_WAL_and_full_synchronous_and_records_its_schema_version()
    {
        await Ledger.PingAsync();
        using var c = new SqliteConnection($"Data Source={DbPath};Mode=ReadOnly;Pooling=false");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", cmd.ExecuteScalar());
        cmd.CommandText = "SELECT MAX(version) FROM schema_version";
        Assert.Equal((long)SqliteLedger.Migrations.Latest, cmd.ExecuteScalar());
    }

    [Fact]
    public async Task A_file_from_a_newer_release_is_refused_naming_both_versions()
    {
        await Ledger.DisposeAsync();
        using (var c = new SqliteConnection($"Data Source={DbPath};Pooling=false"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "INSERT INTO schema_version (version, applied_at) VALUES (7, 0)";
            cmd.ExecuteNonQuery();
        }
        var e = Assert.Throws<LedgerUnavailableException>(() => SqliteLedger.Open(DbPath));
        Assert.Contains("schema version 7", e.Message);
        Assert.Contains($"up to {SqliteLedger.Migrations.Latest}", e.Message);
        Ledger = new MemoryLedger();
    }

    /// <summary>The journal as another process reads it from the file (`ledger verify` does the same).</summary>
    private async Task<List<(Transfer Transfer, PendingState? State)>> FileJournal()
    {
        await using var snapshot = SqliteSnapshot.Open(DbPath);
        var list = new List<(Transfer, PendingState?)>();
        await foreach (var j in snapshot.Journal()) list.Add(j);
        return list;
    }

    private static long Count(string path, string sql)
    {
        using var c = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=false");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return (long)cmd.ExecuteScalar()!;
    }

    [Fact]
    [Trait("Tier", "integration")]
    public async Task A_crash_before_projection_loses_nothing_the_log_has_and_a_restart_replays_it_once()
    {
        await Ledger.DisposeAsync();
        Ledger = SqliteLedger.Open(DbPath, null, SqliteLedger.DefaultMaxRecentIds, projectEvery: int.MaxValue, projectWhenIdle: Timeout.Infinite);
        UInt128 a = await Account(), b = await Account();
        var pendings = Enumerable.Range(0, 3).Select(_ => Own(a, b, TransferFlags.Pending)).ToList();
        var posts = pendings.Select(p => OwnPost(p.Id)).ToList();
        var open = Own(a, b, TransferFlags.Pending);
        var foreign = new Transfer { Id = NewId(), DebitAccountId = a, CreditAccountId = b, Amount = 5, Ledger = Usd, Code = 1 };
        foreach (var (p, post) in pendings.Zip(posts))
        {
            Assert.Equal(CreateTransferResult.Ok, await One(p));
            Assert.Equal(CreateTransferResult.Ok, await One(post));
        }
        Assert.Equal(CreateTransferResult.Ok, await One(open));
        Assert.Equal(CreateTransferResult.Ok, await One(foreign));
        await Ledger.PingAsync();

        // The file as a power cut now would leave it: one consistent committed snapshot, the writer never stopped.
        string crashed = Path.Combine(_dir, "crashed.db");
        M2M.Migrations.SqliteFiles.CopyOnline(DbPath, crashed);
        Assert.Equal(0, Count(crashed, "SELECT count(*) FROM transfers")); // not projected: only the log has them
        Assert.True(Count(crashed, "SELECT count(*) FROM ledger_log") > 0);

        // Another process reading the crashed file (ledger verify / balances) sees the whole ledger.
        await using (var snapshot = SqliteSnapshot.Open(crashed))
        {
            var report = await LedgerVerifier.VerifyAsync(snapshot.Accounts(), snapshot.Journal(), DateTimeOffset.UtcNow, TimeSpan.FromDays(1));
            Assert.True(report.IsConsistent, string.Join("; ", report.Violations));
            var accounts = snapshot.Accounts().ToDictionary(x => x.Id);
            Assert.Equal((UInt128)(3 * 3 + 5), accounts[a].DebitsPosted);
            Assert.Equal((UInt128)3, accounts[a].DebitsPending);
        }

        // A restart on it: balances from the log, every id answered Exists once, the open reserve still postable.
        var restarted = SqliteLedger.Open(crashed);
        try
        {
            var before = (await restarted.LookupAccountAsync(a))!;
            Assert.Equal((UInt128)(3 * 3 + 5), before.DebitsPosted);
            foreach (var t in posts.Append(foreign).Concat(pendings))
                Assert.Equal(CreateTransferResult.Exists, (await restarted.CreateTransfersAsync([t]))[0]);
            Assert.Equal(CreateTransferResult.Ok, (await restarted.CreateTransfersAsync([OwnPost(open.Id)]))[0]);
            Assert.Equal((UInt128)(4 * 3 + 5), (await restarted.LookupAccountAsync(a))!.DebitsPosted);
            Assert.Equal((UInt128)0, (await restarted.LookupAccountAsync(a))!.DebitsPending);
        }
        finally
        {
            await restarted.DisposeAsync();
        }

        // A clean stop projects everything: the tables are the whole ledger again, the log is empty.
        Assert.Equal(0, Count(crashed, "SELECT count(*) FROM ledger_log"));
        Assert.Equal(3 * 2 + 2 + 1L, Count(crashed, "SELECT count(*) FROM transfers"));
        Assert.Equal(0, Count(crashed, "SELECT count(*) FROM transfers WHERE pending_state = 0"));
        await using (var snapshot = SqliteSnapshot.Open(crashed))
        {
            var report = await LedgerVerifier.VerifyAsync(snapshot.Accounts(), snapshot.Journal(), DateTimeOffset.UtcNow, TimeSpan.FromDays(1));
            Assert.True(report.IsConsistent, string.Join("; ", report.Violations));
        }
        await AssertConsistent();
    }

    /// <summary>A second connection to the ledger file, as another process would open it.</summary>
    private SqliteConnection Connect(bool readOnly)
    {
        var c = new SqliteConnection($"Data Source={DbPath};{(readOnly ? "Mode=ReadOnly;" : "")}Pooling=false");
        c.Open();
        return c;
    }

    private Transfer Own(UInt128 debit, UInt128 credit, TransferFlags flags = TransferFlags.None) => new()
    {
        Id = PeerAccounts.NewTransferId(), DebitAccountId = debit, CreditAccountId = credit, Amount = 3, Ledger = Usd, Code = 1, Flags = flags,
        TimeoutAt = (flags & TransferFlags.Pending) != 0 ? Later : null,
    };

    private static Transfer OwnPost(UInt128 pendingId) => new() { Id = PeerAccounts.NewTransferId(), PendingId = pendingId, Flags = TransferFlags.PostPending };

    [Fact]
    [Trait("Tier", "integration")]
    public async Task Ids_issued_by_this_process_are_answered_from_memory_and_other_ids_from_the_file()
    {
        var ledger = (SqliteLedger)Ledger;
        UInt128 a = await Account(), b = await Account();
        var pending = Own(a, b, TransferFlags.Pending);
        var post = OwnPost(pending.Id);
        Assert.Equal(CreateTransferResult.Ok, await One(pending));
        Assert.Equal(CreateTransferResult.Ok, await One(post));
        Assert.Equal(CreateTransferResult.Exists, await One(post));
        Assert.Equal(CreateTransferResult.PendingTransferAlreadyPosted, await One(OwnPost(pending.Id)));
        Assert.Equal(0, ledger.StoredLookups);

        // A client's own id (not from this process's generator) is looked up: it may predate the process.
        var foreign = new Transfer { Id = NewId(), DebitAccountId = a, CreditAccountId = b, Amount = 1, Ledger = Usd, Code = 1 };
        Assert.Equal(CreateTransferResult.Ok, await One(foreign));
        Assert.True(ledger.StoredLookups > 0);
        Assert.Equal(CreateTransferResult.Exists, await One(foreign));
        await AssertConsistent();
    }

    [Fact]
    [Trait("Tier", "integration")]
    public async Task A_transfer_pushed_out_of_memory_is_still_found_in_the_file_exactly_once()
    {
        await Ledger.DisposeAsync();
        var ledger = SqliteLedger.Open(DbPath, null, maxRecentIds: 8, projectEvery: 4); // only projected transfers leave memory
        Ledger = ledger;
        UInt128 a = await Account(), b = await Account();
        var first = Own(a, b);
        var pending = Own(a, b, TransferFlags.Pending);
        Assert.Equal(CreateTransferResult.Ok, await One(first));
        Assert.Equal(CreateTransferResult.Ok, await One(pending));
        Assert.Equal(CreateTransferResult.Ok, await One(OwnPost(pending.Id)));
        for (int i = 0; i < 40; i++) Assert.Equal(CreateTransferResult.Ok, await One(Own(a, b)));

        long before = ledger.StoredLookups;
        Assert.Equal(CreateTransferResult.Exists, await One(first));
        Assert.Equal(CreateTransferResult.ExistsWithDifferentFields, await One(first with { Amount = 4 }));
        Assert.Equal(CreateTransferResult.PendingTransferAlreadyPosted, await One(OwnPost(pending.Id)));
        Assert.True(ledger.StoredLookups > before, "the evicted ids were answered without the file");
        Assert.Equal((UInt128)(3 * 42), (await Get(a)).DebitsPosted);
        await AssertConsistent();
    }

    [Fact]
    [Trait("Tier", "integration")]
    public async Task Checkpoints_run_beside_the_writer_after_projections_and_lose_nothing()
    {
        await Ledger.DisposeAsync();
        var ledger = SqliteLedger.Open(DbPath, null, maxRecentIds: 8, projectEvery: 4);
        Ledger = ledger;
        UInt128 a = await Account(), b = await Account();
        for (int i = 0; i < 60; i++)
        {
            var pending = Own(a, b, TransferFlags.Pending);
            Assert.Equal(CreateTransferResult.Ok, await One(pending));
            Assert.Equal(CreateTransferResult.Ok, await One(OwnPost(pending.Id)));
        }
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (ledger.CheckpointsRun == 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.True(ledger.CheckpointsRun > 0, "no WAL checkpoint ran beside the writer after its projections");
        Assert.Equal((UInt128)(3 * 60), (await Get(a)).DebitsPosted);
        await AssertConsistent();

        await Ledger.DisposeAsync(); // the checkpointer stops first, then the writer's connection
        Ledger = SqliteLedger.Open(DbPath);
        Assert.Equal((UInt128)(3 * 60), (await Get(a)).DebitsPosted);
        await AssertConsistent();
    }

    [Fact]
    [Trait("Tier", "integration")]
    public async Task A_reserve_returns_while_the_file_is_locked_and_the_post_only_after_its_commit()
    {
        UInt128 a = await Account(), b = await Account();
        using var blocker = Connect(readOnly: false);
        using var exclusive = blocker.BeginTransaction(System.Data.IsolationLevel.Serializable, deferred: false);

        var pending = Own(a, b, TransferFlags.Pending);
        var reserve = Ledger.CreateTransfersAsync([pending]).AsTask();
        Assert.True(reserve.IsCompleted, "a reserve must not wait for the commit (single-owner backend)");
        Assert.Equal(CreateTransferResult.Ok, (await reserve)[0]);
        var post = Ledger.CreateTransfersAsync([OwnPost(pending.Id)]).AsTask();
        await Task.Delay(500);
        Assert.False(post.IsCompleted, "a post returned before its commit");

        exclusive.Rollback(); // the writer's BEGIN IMMEDIATE (busy_timeout 5 s) now gets the file
        Assert.Equal(CreateTransferResult.Ok, (await post)[0]);
        // The reserve, posted, is in the file with its post (in the log or already in the tables).
        Assert.Equal(1, (await FileJournal()).Count(j => j.Transfer.Id == pending.Id && j.State == PendingState.Posted));
        await AssertConsistent();
    }

    [Fact]
    [Trait("Tier", "integration")]
    public async Task Every_post_that_returned_is_in_the_file_with_the_reserve_it_depends_on()
    {
        UInt128 a = await Account(), b = await Account();
        var missing = 0;
        using var one = new SemaphoreSlim(1);
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (int i = 0; i < 50; i++)
            {
                var pending = Own(a, b, TransferFlags.Pending);
                Assert.Equal(CreateTransferResult.Ok, await One(pending));
                var post = OwnPost(pending.Id);
                Assert.Equal(CreateTransferResult.Ok, await One(post));
                await one.WaitAsync();
                try
                {
                    var file = await FileJournal(); // what another process reads: tables plus the log
                    if (file.Count(j => (j.Transfer.Id == pending.Id && j.State == PendingState.Posted) || j.Transfer.Id == post.Id) != 2) missing++;
                }
                finally
                {
                    one.Release();
                }
            }
        })));
        Assert.Equal(0, missing);
        await AssertConsistent();
    }

    [Fact]
    [Trait("Tier", "integration")]
    public async Task A_failed_commit_fails_its_waiters_and_memory_is_reloaded_from_the_file()
    {
        UInt128 a = await Account(), b = await Account();
        Assert.Equal(CreateTransferResult.Ok, await One(Own(a, b)));
        using (var blocker = Connect(readOnly: false))
        {
            using var exclusive = blocker.BeginTransaction(System.Data.IsolationLevel.Serializable, deferred: false);
            var pending = Own(a, b, TransferFlags.Pending);
            Assert.Equal(CreateTransferResult.Ok, await One(pending)); // applied in memory only
            Assert.Equal((UInt128)3, (await Get(a)).DebitsPending);
            // The writer gives up after busy_timeout (5 s): the post fails, nothing of it is claimed.
            await Assert.ThrowsAsync<LedgerUnavailableException>(async () => await One(OwnPost(pending.Id)));
        }
        var reloaded = await Get(a);
        Assert.Equal((UInt128)0, reloaded.DebitsPending); // the uncommitted reserve is gone, as after a restart
        Assert.Equal((UInt128)3, reloaded.DebitsPosted);
        Assert.Equal(CreateTransferResult.Ok, await One(Own(a, b)));
        Assert.Equal((UInt128)6, (await Get(a)).DebitsPosted);
        await AssertConsistent();
    }

    [Fact]
    [Trait("Tier", "integration")]
    public async Task A_reserve_nobody_waits_for_is_held_and_its_post_shares_its_commit()
    {
        await Ledger.DisposeAsync();
        // A 5 s hold: the post comes 200 ms after the reserve, and a stalled test thread on a loaded machine must not
        // outlast the hold (with 1 s, a 0.8 s stall committed the reserve alone). The post ends the hold at once.
        var ledger = SqliteLedger.Open(DbPath, null, SqliteLedger.DefaultMaxRecentIds, holdMs: 5000, coalesceMs: 0);
        Ledger = ledger;
        UInt128 a = await Account(), b = await Account();
        var sizes = new List<int>();
        ledger.BatchCommitted += (n, _) => { lock (sizes) sizes.Add(n); };

        var pending = Own(a, b, TransferFlags.Pending);
        var reserve = Ledger.CreateTransfersAsync([pending]).AsTask();
        Assert.True(reserve.IsCompleted, "a reserve must not wait for the commit (single-owner backend)");
        await Task.Delay(200); // without the hold the writer commits the reserve alone meanwhile
        var post = OwnPost(pending.Id);
        Assert.Equal(CreateTransferResult.Ok, await One(post));

        lock (sizes) Assert.Equal([2], sizes); // one commit: the reserve and its post
        var file = await FileJournal();
        Assert.Equal(1, file.Count(j => j.Transfer.Id == pending.Id && j.State == PendingState.Posted));
        Assert.Equal(1, file.Count(j => j.Transfer.Id == post.Id));
        await AssertConsistent();
    }

    [Fact]
    [Trait("Tier", "integration")]
    public async Task A_held_reserve_is_committed_when_its_hold_ends_without_a_post()
    {
        await Ledger.DisposeAsync();
        var ledger = SqliteLedger.Open(DbPath, null, SqliteLedger.DefaultMaxRecentIds, holdMs: 300, coalesceMs: 0);
        Ledger = ledger;
        UInt128 a = await Account(), b = await Account();
        var committed = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        ledger.BatchCommitted += (_, _) => committed.TrySetResult(System.Diagnostics.Stopwatch.GetTimestamp());

        long sent = System.Diagnostics.Stopwatch.GetTimestamp();
        var pending = Own(a, b, TransferFlags.Pending);
        Assert.Equal(CreateTransferResult.Ok, await One(pending));
        long at = await committed.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var held = System.Diagnostics.Stopwatch.GetElapsedTime(sent, at);
        Assert.True(held >= TimeSpan.FromMilliseconds(250), $"the reserve was committed after {held.TotalMilliseconds} ms, before its hold ended");
        Assert.Equal(1, (await FileJournal()).Count(j => j.Transfer.Id == pending.Id && j.State == PendingState.Open));
    }

    [Fact]
    [Trait("Tier", "integration")]
    public async Task Posts_in_one_coalescing_window_share_a_commit_and_each_returns_only_after_it()
    {
        await Ledger.DisposeAsync();
        // A 1.5 s window, counted from the first post: the second comes ~100 ms later, and a stalled test thread on a
        // loaded machine must not outlast the window (with 500 ms, a 0.4 s stall committed the first post alone).
        // Every awaited call here waits one window (accounts, ping, the posts): about 7 s in all.
        var ledger = SqliteLedger.Open(DbPath, null, SqliteLedger.DefaultMaxRecentIds, holdMs: 0, coalesceMs: 1500);
        Ledger = ledger;
        UInt128 a = await Account(), b = await Account();
        var p1 = Own(a, b, TransferFlags.Pending);
        var p2 = Own(a, b, TransferFlags.Pending);
        Assert.Equal(CreateTransferResult.Ok, await One(p1));
        Assert.Equal(CreateTransferResult.Ok, await One(p2));
        await Ledger.PingAsync();
        var sizes = new List<int>();
        ledger.BatchCommitted += (n, _) => { lock (sizes) sizes.Add(n); };

        var post1 = OwnPost(p1.Id);
        var first = One(post1);
        await Task.Delay(100); // without the window the first post is committed alone meanwhile
        Assert.False(first.IsCompleted, "a post returned before its commit");
        var post2 = OwnPost(p2.Id);
        Assert.Equal(CreateTransferResult.Ok, await One(post2));
        Assert.Equal(CreateTransferResult.Ok, await first);

        lock (sizes) Assert.Equal([2], sizes);
        var file = await FileJournal();
        Assert.Equal(2, file.Count(j => j.Transfer.Id == post1.Id || j.Transfer.Id == post2.Id));
        await AssertConsistent();
    }

    [Fact]
    [Trait("Tier", "integration")]
    public async Task A_projection_of_many_rows_writes_each_transfer_once_in_apply_order_with_its_last_state()
    {
        await Ledger.DisposeAsync();
        Ledger = SqliteLedger.Open(DbPath, null, SqliteLedger.DefaultMaxRecentIds, projectEvery: int.MaxValue, projectWhenIdle: Timeout.Infinite);
        UInt128 a = await Account(), b = await Account();
        var order = new List<UInt128>();
        var open = new List<UInt128>();
        for (int i = 0; i < 23; i++) // 23 reserves, 20 posted, and 5 plain: chunks of several rows and a remainder
        {
            var pending = Own(a, b, TransferFlags.Pending);
            Assert.Equal(CreateTransferResult.Ok, await One(pending));
            order.Add(pending.Id);
            if (i < 20)
            {
                var post = OwnPost(pending.Id);
                Assert.Equal(CreateTransferResult.Ok, await One(post));
                order.Add(post.Id);
            }
            else
            {
                open.Add(pending.Id);
            }
            if (i % 5 == 0)
            {
                var plain = Own(a, b);
                Assert.Equal(CreateTransferResult.Ok, await One(plain));
                order.Add(plain.Id);
            }
        }
        await Ledger.DisposeAsync(); // a clean stop projects the whole log into the tables
        Ledger = SqliteLedger.Open(DbPath);

        using var c = Connect(readOnly: true);
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id, pending_state FROM transfers ORDER BY seq";
        var rows = new List<(UInt128 Id, long? State)>();
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read()) rows.Add((UInt128.Parse(r.GetString(0), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture), r.IsDBNull(1) ? null : r.GetInt64(1)));
        }
        Assert.Equal(order, rows.Select(x => x.Id));
        Assert.Equal(open, rows.Where(x => x.State == (long)PendingState.Open).Select(x => x.Id));
        Assert.Equal(20, rows.Count(x => x.State == (long)PendingState.Posted));
        Assert.Equal(0, Count(DbPath, "SELECT count(*) FROM ledger_log"));
        await AssertConsistent();
    }

    [Theory]
    [InlineData("0")]
    [InlineData("1")]
    [InlineData("18446744073709551615")]
    [InlineData("18446744073709551616")]
    [InlineData("340282366920938463463374607431768211455")]
    [InlineData("1311768467463790320")]
    public void The_writer_formats_ids_and_amounts_exactly_as_the_schema_does(string decimalValue)
    {
        var value = UInt128.Parse(decimalValue, System.Globalization.CultureInfo.InvariantCulture);
        Span<byte> id = stackalloc byte[32];
        SqliteLedger.FormatId(value, id);
        Assert.Equal(value.ToString("x32", System.Globalization.CultureInfo.InvariantCulture), System.Text.Encoding.UTF8.GetString(id));
        Span<byte> amount = stackalloc byte[40];
        int n = SqliteLedger.FormatAmount(value, amount);
        Assert.Equal(decimalValue, System.Text.Encoding.UTF8.GetString(amount[..n]));
    }

    [Fact]
    public async Task Concurrent_callers_are_committed_in_shared_batches()
    {
        var sizes = new List<int>();
        ((SqliteLedger)Ledger).BatchCommitted += (n, _) => { lock (sizes) sizes.Add(n); };
        UInt128 a = await Account(), b = await Account();

        var results = await Task.WhenAll(Enumerable.Range(0, 400).Select(_ => One(Pending(a, b, 1))));

        Assert.All(results, r => Assert.Equal(CreateTransferResult.Ok, r));
        Assert.Equal((UInt128)400, (await Get(a)).DebitsPending);
        await Ledger.PingAsync(); // reserves return before their commit; the ping waits for all of them
        lock (sizes) Assert.True(sizes.Max() > 1, $"no batch carried more than one caller: {string.Join(",", sizes)}");
    }
}

[Trait("Tier", "integration")]
public sealed class SqliteBenchPragmaTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"m2m-pragma-{Guid.NewGuid():N}.db");

    public void Dispose()
    {
        foreach (var f in new[] { _path, _path + "-wal", _path + "-shm" }) File.Delete(f);
    }

    [Theory]
    [InlineData("synchronous=0")]
    [InlineData("journal_mode=0")]
    [InlineData("fullfsync=0")]
    public void A_bench_pragma_that_could_weaken_durability_is_refused(string pragma)
    {
        using var c = SqliteLedger.Connect(_path, readOnly: false);
        var e = Assert.Throws<LedgerUnavailableException>(() => SqliteLedger.BenchPragmas(c, pragma));
        Assert.Contains("is not one of wal_autocheckpoint", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_speed_pragma_is_applied_and_a_malformed_one_refused()
    {
        using var c = SqliteLedger.Connect(_path, readOnly: false);
        SqliteLedger.BenchPragmas(c, "wal_autocheckpoint=5000");
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA wal_autocheckpoint";
        Assert.Equal(5000L, (long)cmd.ExecuteScalar()!);
        Assert.Throws<LedgerUnavailableException>(() => SqliteLedger.BenchPragmas(c, "wal_autocheckpoint=abc"));
    }
}
