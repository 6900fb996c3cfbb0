using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Ledger.Postgres;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>
/// Issue 8 at process level, on PostgreSQL (and on SQLite, below): a Fulfill whose post landed although the connector
/// answered T00 (here: the pending pair was posted behind the connector's back, so its own post
/// answers PendingTransferAlreadyPosted), and the connector is SIGKILLed right after the T00,
/// before its in-memory resolution runs (M2M_PAUSEPOINT=doubtful-post-resolve). After a restart the
/// doubtful-post journal must reverse the post so the books match the T00.
/// </summary>
[Trait("Tier", "process")]
public class DoubtfulPostCrashTests(PostgresServer postgres) : IClassFixture<PostgresServer>
{
    private static readonly UInt128 Alice = PeerAccounts.PeerAccountId("alice", PeerAccounts.LedgerFor("USD", 9));
    private static readonly UInt128 Bob = PeerAccounts.PeerAccountId("bob", PeerAccounts.LedgerFor("USD", 9));

    [Fact]
    public async Task A_landed_post_answered_T00_is_reversed_after_the_connector_is_killed_before_resolving_it()
    {
        var dir = Directory.CreateTempSubdirectory("m2m-doubtful-").FullName;
        int btp = CliProcess.FreePort(), http = CliProcess.FreePort();
        string config = Path.Combine(dir, "config.yaml");
        await File.WriteAllTextAsync(config, """
            nodeId: doubtful
            ilpAddress: g.doubtful
            ledger: { backend: postgres }
            peers:
              - { id: alice, authToken: alice-secret }
              - { id: bob, authToken: bob-secret }
            routes:
              - { prefix: g.bob, nextHop: bob }
            """);
        string url = await postgres.CreateDatabaseAsync();
        var env = new Dictionary<string, string>
        {
            ["LEDGER_POSTGRES_URL"] = url, ["BTP_SERVER_PORT"] = btp.ToString(), ["HEALTH_CHECK_PORT"] = http.ToString(), ["BIND_ADDRESS"] = "127.0.0.1",
        };
        // With a PostgreSQL ledger the data directory is ./data: run in the test's own directory.
        string journal = Path.Combine(dir, "data", "doubtful-posts.journal");

        using (var connector = CliProcess.StartIn(dir, new Dictionary<string, string>(env) { ["M2M_PAUSEPOINT"] = "doubtful-post-resolve" }, "run", "--config", config))
        {
            await CliProcess.WaitForHealth($"http://127.0.0.1:{http}/health", connector);
            await using var ledger = await PostgresLedger.OpenAsync(url);
            await using var alice = await TestPeer.ConnectAsync(btp, "alice", "alice-secret");
            await using var bob = await TestPeer.ConnectAsync(btp, "bob", "bob-secret");
            Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 7)));
            bob.OnPrepare = async p =>
            {
                await PostOpenPendingBehindTheConnectorsBack(ledger, amount: 5);
                return new IlpFulfill { Fulfillment = p.Data.ToArray() };
            };

            var reply = await alice.SendAsync(TestPeer.Payment("g.bob.x", 5));

            Assert.Equal("T00", Assert.IsType<IlpReject>(reply).Code);
            await connector.WaitForStderr("paused at doubtful-post-resolve", TimeSpan.FromSeconds(10));
            connector.Signal(CliProcess.SIGKILL);
            await connector.WaitForExitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal((-12, 12), await Balances(ledger)); // the landed post, behind a T00: the violation
        }
        // The record is in the ledger's database (issue 15), where every node sees it; no file beside the node.
        Assert.False(File.Exists(journal));
        Assert.Equal((1L, 1L), await JournalRows(url));

        // Another node (its own directory, as on its own machine) finishes what the killed one left.
        string other = Directory.CreateTempSubdirectory("m2m-doubtful-other-").FullName;
        File.Copy(config, Path.Combine(other, "config.yaml"));
        using (var restarted = CliProcess.StartIn(other, env, "run", "--config", Path.Combine(other, "config.yaml")))
        {
            await CliProcess.WaitForHealth($"http://127.0.0.1:{http}/health", restarted);
            await using var ledger = await PostgresLedger.OpenAsync(url);
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (await Balances(ledger) != (-7, 7) && DateTime.UtcNow < deadline) await Task.Delay(100);
            Assert.Equal((-7, 7), await Balances(ledger)); // only the fulfilled packet: the books match the T00
            while (await JournalRows(url) != (0, 0) && DateTime.UtcNow < deadline) await Task.Delay(100);
            Assert.Equal((0L, 0L), await JournalRows(url)); // resolved and compacted
            restarted.Signal(CliProcess.SIGTERM);
            await restarted.WaitForExitAsync(TimeSpan.FromSeconds(30));
        }
        Directory.Delete(dir, recursive: true);
        Directory.Delete(other, recursive: true);
    }

    /// <summary>
    /// The same on SQLite, where one process owns the ledger file: the post's outcome is made unknown by holding
    /// the file's write lock from outside (as a stuck disk or a backup tool would) from just before bob's Fulfill
    /// until the connector's post has failed on the 5 s busy timeout (the packet's expiry leaves no time for a
    /// second attempt), then releasing it while the journal row waits on that same timeout: the row lands in the
    /// ledger file's doubtful_posts table, the T00 goes upstream, and the connector is SIGKILLed before resolving
    /// it (pause point doubtful-post-resolve). The next start resolves the row; the books match the T00.
    /// </summary>
    [Fact]
    public async Task Sqlite_a_doubtful_post_in_the_ledger_file_is_resolved_after_the_connector_is_killed()
    {
        var dir = Directory.CreateTempSubdirectory("m2m-doubtful-sqlite-").FullName;
        int btp = CliProcess.FreePort(), http = CliProcess.FreePort();
        string config = Path.Combine(dir, "config.yaml");
        await File.WriteAllTextAsync(config, """
            nodeId: doubtful
            ilpAddress: g.doubtful
            peers:
              - { id: alice, authToken: alice-secret }
              - { id: bob, authToken: bob-secret }
            routes:
              - { prefix: g.bob, nextHop: bob }
            """);
        string ledgerPath = Path.Combine(dir, "data", "ledger.db");
        var env = new Dictionary<string, string>
        {
            ["LEDGER_PATH"] = ledgerPath, ["BTP_SERVER_PORT"] = btp.ToString(), ["HEALTH_CHECK_PORT"] = http.ToString(), ["BIND_ADDRESS"] = "127.0.0.1",
        };
        string journal = Path.Combine(dir, "data", "doubtful-posts.journal");
        using var holder = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={ledgerPath};Pooling=False");
        Microsoft.Data.Sqlite.SqliteTransaction? held = null;
        Task release = Task.CompletedTask;

        using (var connector = CliProcess.StartIn(dir, new Dictionary<string, string>(env) { ["M2M_PAUSEPOINT"] = "doubtful-post-resolve" }, "run", "--config", config))
        {
            await CliProcess.WaitForHealth($"http://127.0.0.1:{http}/health", connector);
            await using var alice = await TestPeer.ConnectAsync(btp, "alice", "alice-secret");
            await using var bob = await TestPeer.ConnectAsync(btp, "bob", "bob-secret");
            Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 7)));
            bob.OnPrepare = async p =>
            {
                // The packet's two reservations are committed and projected (no log rows left for the writer to project
                // while the lock is held), then the lock is taken and released 7.5 s later: after the post's 5 s busy
                // timeout, inside the journal row's.
                var until = DateTime.UtcNow.AddSeconds(2);
                while (OpenPendingAndLogRows(ledgerPath) != (2, 0) && DateTime.UtcNow < until) await Task.Delay(20);
                Assert.Equal((2L, 0L), OpenPendingAndLogRows(ledgerPath));
                holder.Open();
                held = holder.BeginTransaction(deferred: false);
                release = Task.Delay(TimeSpan.FromSeconds(7.5)).ContinueWith(_ => held.Rollback(), TaskScheduler.Default);
                return new IlpFulfill { Fulfillment = p.Data.ToArray() };
            };

            // Expiry 5 s: outgoing 4 s, so the post's first attempt (5 s on the lock) ends past its retry deadline (4.5 s).
            var reply = await alice.SendAsync(TestPeer.Payment("g.bob.x", 5, expiresInSeconds: 5));

            Assert.Equal("T00", Assert.IsType<IlpReject>(reply).Code);
            await connector.WaitForStderr("paused at doubtful-post-resolve", TimeSpan.FromSeconds(30));
            connector.Signal(CliProcess.SIGKILL);
            await connector.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }
        await release;
        held?.Dispose();
        // The record is in the ledger file's table, not spilled to the file beside it.
        Assert.False(File.Exists(journal), "the journal row spilled to the file: the lock was released outside the row's busy timeout");
        Assert.Equal((1L, 1L), SqliteJournalRows(ledgerPath));

        using (var restarted = CliProcess.StartIn(dir, env, "run", "--config", config))
        {
            await CliProcess.WaitForHealth($"http://127.0.0.1:{http}/health", restarted);
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (SqliteJournalRows(ledgerPath).Open != 0 && DateTime.UtcNow < deadline) await Task.Delay(100);
            Assert.Equal(0L, SqliteJournalRows(ledgerPath).Open); // resolved by the next start
            restarted.Signal(CliProcess.SIGTERM);
            Assert.Equal(0, await restarted.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        }
        await using (var ledger = M2M.Ledger.Sqlite.SqliteLedger.Open(ledgerPath))
        {
            var (a, b) = ((await ledger.LookupAccountAsync(Alice))!, (await ledger.LookupAccountAsync(Bob))!);
            Assert.Equal(((Int128)(-7), (Int128)7, (UInt128)0, (UInt128)0), (a.PostedBalance, b.PostedBalance, a.DebitsPending, b.CreditsPending)); // only the fulfilled packet
        }
        var (verify, stdout, stderr) = await CliProcess.RunAsync(env, "ledger", "verify", "--config", config);
        Assert.True(verify == 0, $"ledger verify exited {verify}: {stdout}{stderr}");
        Directory.Delete(dir, recursive: true);
    }

    /// <summary>(open pending transfers in the tables, ledger_log rows not yet projected) of the SQLite ledger file.</summary>
    private static (long Pending, long Log) OpenPendingAndLogRows(string ledgerPath) =>
        SqlitePair(ledgerPath, "SELECT (SELECT count(*) FROM transfers WHERE pending_state = 0), (SELECT count(*) FROM ledger_log)");

    /// <summary>(rows, open rows) of the doubtful_posts table in the SQLite ledger file.</summary>
    private static (long Rows, long Open) SqliteJournalRows(string ledgerPath) =>
        SqlitePair(ledgerPath, "SELECT count(*), count(*) FILTER (WHERE resolved_at IS NULL) FROM doubtful_posts");

    private static (long, long) SqlitePair(string ledgerPath, string sql)
    {
        using var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={ledgerPath};Mode=ReadOnly;Pooling=False");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        using var r = cmd.ExecuteReader();
        r.Read();
        return (r.GetInt64(0), r.GetInt64(1));
    }

    /// <summary>(rows, open rows) of the doubtful_posts table in the ledger's database.</summary>
    private static async Task<(long Rows, long Open)> JournalRows(string url)
    {
        await using var conn = new Npgsql.NpgsqlConnection(url);
        await conn.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand("SELECT count(*), count(*) FILTER (WHERE resolved_at IS NULL) FROM doubtful_posts", conn);
        await using var r = await cmd.ExecuteReaderAsync();
        await r.ReadAsync();
        return (r.GetInt64(0), r.GetInt64(1));
    }

    /// <summary>Posts the open pending pair of <paramref name="amount"/> with fresh ids, as a COMMIT the connector never heard of.</summary>
    private static async Task PostOpenPendingBehindTheConnectorsBack(PostgresLedger ledger, ulong amount)
    {
        var open = new List<Transfer>();
        await foreach (var (t, state) in ledger.ReadJournalAsync())
            if (state == PendingState.Open && t.Amount == amount) open.Add(t);
        var incoming = Assert.Single(open, t => t.DebitAccountId == Alice);
        var outgoing = Assert.Single(open, t => t.CreditAccountId == Bob);
        var results = await ledger.CreateTransfersAsync(
        [
            new Transfer { Id = PeerAccounts.NewTransferId(), PendingId = incoming.Id, Flags = TransferFlags.PostPending | TransferFlags.Linked, Code = TransferIds.PacketCode },
            new Transfer { Id = PeerAccounts.NewTransferId(), PendingId = outgoing.Id, Flags = TransferFlags.PostPending, Code = TransferIds.PacketCode },
        ]);
        Assert.All(results, r => Assert.Equal(CreateTransferResult.Ok, r));
    }

    private static async Task<(Int128, Int128)> Balances(PostgresLedger ledger) =>
        ((await ledger.LookupAccountAsync(Alice))!.PostedBalance, (await ledger.LookupAccountAsync(Bob))!.PostedBalance);
}
