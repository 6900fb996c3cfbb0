using M2M.Core.Ilp;
using M2M.TestKit;
using Xunit.Abstractions;

namespace M2M.Process.Tests;

/// <summary>
/// Two connector processes share one PostgreSQL ledger (a real server started for the test).
/// Alice sends through both at once: her one credit limit holds across both nodes, the books
/// balance, and `ledger verify` on the shared ledger passes.
/// </summary>
/// <remarks>In the "data" collection: its load would otherwise run beside PostgresDataTests, whose one-shot
/// commands connect with the ledger's 2 s connect timeout and missed it on a loaded machine (load ≈ 60).</remarks>
[Collection("data")]
[Trait("Tier", "process")]
public class SharedPostgresLedgerTests(PostgresServer postgres, ITestOutputHelper output) : IClassFixture<PostgresServer>
{
    private const ulong CreditLimit = 20_000;

    [Fact]
    public async Task Two_connector_processes_share_one_ledger_and_one_credit_limit()
    {
        string url = postgres.ConnectionString(await postgres.CreateDatabaseAsync());
        string dir = Directory.CreateTempSubdirectory("m2m-pg2-").FullName;
        string config = Path.Combine(dir, "config.yaml");
        await File.WriteAllTextAsync(config, $"""
            nodeId: node
            ilpAddress: g.node
            ledger: {"{"} backend: postgres {"}"}
            peers:
              - {"{"} id: alice, authToken: alice-secret, creditLimit: {CreditLimit} {"}"}
              - {"{"} id: bob, authToken: bob-secret {"}"}
            routes:
              - {"{"} prefix: g.bob, nextHop: bob {"}"}
            """);
        var nodes = new List<(CliProcess Process, int Btp)>();
        try
        {
            for (int i = 0; i < 2; i++)
            {
                int btp = CliProcess.FreePort(), http = CliProcess.FreePort();
                var env = new Dictionary<string, string>
                {
                    ["BTP_SERVER_PORT"] = btp.ToString(), ["HEALTH_CHECK_PORT"] = http.ToString(), ["BIND_ADDRESS"] = "127.0.0.1",
                    ["NODE_ID"] = $"node{i}", ["LEDGER_POSTGRES_URL"] = url,
                };
                var p = CliProcess.Start(env, "run", "--config", config);
                nodes.Add((p, btp));
                await CliProcess.WaitForHealth($"http://127.0.0.1:{http}/health", p);
            }
            var peers = new List<TestPeer>();
            foreach (var (_, btp) in nodes)
            {
                peers.Add(await TestPeer.ConnectAsync(btp, "alice", "alice-secret"));
                peers.Add(await TestPeer.ConnectAsync(btp, "bob", "bob-secret"));
            }
            var random = new Random(11);
            var prepares = Enumerable.Range(0, 1200).Select(i => (Node: i % 2, Prepare: TestPeer.Payment("g.bob.x", (ulong)random.Next(1, 50)))).ToList();

            var replies = await Task.WhenAll(prepares.Select(x => peers[2 * x.Node].SendAsync(x.Prepare)));

            long fulfilled = prepares.Zip(replies).Where(x => x.Second is IlpFulfill).Sum(x => (long)x.First.Prepare.Amount);
            int t04 = replies.Count(r => r is IlpReject { Code: "T04" });
            output.WriteLine($"fulfilled {fulfilled} units, {t04} T04 rejects, limit {CreditLimit}");
            Assert.True(fulfilled <= (long)CreditLimit, $"the shared credit limit was exceeded: {fulfilled} > {CreditLimit}");
            Assert.True(t04 > 0, "the load never reached the limit");
            Assert.True(fulfilled > (long)CreditLimit - 50, $"the limit was not used up: {fulfilled}");
            Assert.All(prepares.Zip(replies), x => Assert.True(x.Second is IlpFulfill or IlpReject { Code: "T04" }, (x.Second as IlpReject)?.ToString()));
            foreach (var peer in peers) await peer.DisposeAsync();

            var verifyEnv = new Dictionary<string, string> { ["LEDGER_POSTGRES_URL"] = url };
            var (code, stdout, stderr) = await CliProcess.RunAsync(verifyEnv, "ledger", "verify", "--config", config);
            Assert.True(code == 0, stdout + stderr);
            var (_, balances, _) = await CliProcess.RunAsync(verifyEnv, "ledger", "balances", "--config", config);
            Assert.Matches($@"peer:alice:USD/9\s+-{fulfilled}\s", balances);
            Assert.Matches($@"peer:bob:USD/9\s+{fulfilled}\s", balances);
        }
        finally
        {
            foreach (var (p, _) in nodes) p.Dispose();
            Directory.Delete(dir, recursive: true);
        }
    }
}
