using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Ledger.Postgres;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>
/// Issue 8 at process level, on PostgreSQL: a Fulfill whose post landed although the connector
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
