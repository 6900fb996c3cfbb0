using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Ledger.Sqlite;
using M2M.TestKit;
using Xunit.Abstractions;

namespace M2M.Cli.Tests;

/// <summary>
/// R01 (short form): the connector process with its SQLite ledger is killed with SIGKILL in the
/// middle of load, then restarted. Every Fulfill the sender saw is posted; nothing beyond what
/// was in flight is posted; no pending transfer outlives its timeout; `ledger verify` exits 0.
/// CRASH_RUNS sets the number of runs (CI: 3; run more by hand).
/// </summary>
public class CrashSafetyTests(ITestOutputHelper output)
{
    private const double PacketExpirySeconds = 3;

    [Fact]
    public async Task Sigkill_under_load_loses_no_fulfilled_packet_and_leaves_consistent_books()
    {
        int runs = int.TryParse(Environment.GetEnvironmentVariable("CRASH_RUNS"), out int n) ? n : 3;
        var random = new Random(Environment.TickCount);
        for (int run = 1; run <= runs; run++)
        {
            var loadTime = TimeSpan.FromMilliseconds(random.Next(1500, 4000));
            await OneRun(run, loadTime);
        }
    }

    private async Task OneRun(int run, TimeSpan loadTime)
    {
        var dir = Directory.CreateTempSubdirectory("m2m-crash-").FullName;
        string ledgerPath = Path.Combine(dir, "ledger.db");
        int btp = CliProcess.FreePort(), http = CliProcess.FreePort();
        string config = Path.Combine(dir, "config.yaml");
        await File.WriteAllTextAsync(config, $"""
            nodeId: crash
            ilpAddress: g.crash
            peers:
              - {"{"} id: alice, authToken: alice-secret, creditLimit: 100000000 {"}"}
              - {"{"} id: bob, authToken: bob-secret {"}"}
            routes:
              - {"{"} prefix: g.bob, nextHop: bob {"}"}
            """);
        var env = new Dictionary<string, string>
        {
            ["BTP_SERVER_PORT"] = btp.ToString(), ["HEALTH_CHECK_PORT"] = http.ToString(),
            ["BIND_ADDRESS"] = "127.0.0.1", ["LEDGER_PATH"] = ledgerPath,
        };

        var sent = new List<(ulong Amount, string Outcome)>();
        using (var connector = CliProcess.Start(env, "run", "--config", config))
        {
            await CliTests.WaitForHealth($"http://127.0.0.1:{http}/health", connector);
            await using var alice = await TestPeer.ConnectAsync(btp, "alice", "alice-secret");
            await using var bob = await TestPeer.ConnectAsync(btp, "bob", "bob-secret");
            using var stopLoad = new CancellationTokenSource();
            var workers = Enumerable.Range(0, 16).Select(w => Task.Run(() => Load(alice, w, sent, stopLoad.Token))).ToList();

            await Task.Delay(loadTime);
            connector.Signal(CliProcess.SIGKILL);
            await connector.WaitForExitAsync(TimeSpan.FromSeconds(10));
            stopLoad.Cancel();
            await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));
        }

        // Restart on the same file; wait past every pending timeout so the sweeper has run.
        using (var restarted = CliProcess.Start(env, "run", "--config", config))
        {
            await CliTests.WaitForHealth($"http://127.0.0.1:{http}/health", restarted);
            await Task.Delay(TimeSpan.FromSeconds(PacketExpirySeconds + 2.5));
            var (code, stdout, stderr) = await CliProcess.RunAsync(new Dictionary<string, string> { ["LEDGER_PATH"] = ledgerPath }, "ledger", "verify", "--config", config);
            Assert.True(code == 0, $"run {run}: ledger verify failed:\n{stdout}\n{stderr}");
            Assert.Contains(" 0 open pending", stdout);
            restarted.Signal(CliProcess.SIGTERM);
            Assert.Equal(0, await restarted.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        }

        await using var snapshot = SqliteSnapshot.Open(ledgerPath);
        var accounts = snapshot.Accounts();
        var alicePosted = accounts.Single(a => a.Name.StartsWith("peer:alice")).DebitsPosted;
        var bobPosted = accounts.Single(a => a.Name.StartsWith("peer:bob")).CreditsPosted;
        ulong fulfilled = Sum(sent, "fulfilled"), unanswered = Sum(sent, "no-reply");
        output.WriteLine($"run {run}: {sent.Count} sent, fulfilled {fulfilled} units, unanswered {unanswered} units, alice posted {alicePosted}, load {loadTime.TotalMilliseconds:F0} ms");
        Assert.True(sent.Count(s => s.Outcome == "fulfilled") > 10, $"run {run}: too little load to mean anything");
        Assert.True(alicePosted >= fulfilled, $"run {run}: a Fulfill the sender saw is missing from the ledger ({alicePosted} < {fulfilled})");
        Assert.True(alicePosted <= fulfilled + unanswered, $"run {run}: more posted ({alicePosted}) than fulfilled + in flight ({fulfilled} + {unanswered})");
        Assert.Equal(alicePosted, bobPosted);
        Directory.Delete(dir, recursive: true);
    }

    private static async Task Load(TestPeer alice, int worker, List<(ulong, string)> sent, CancellationToken stop)
    {
        var random = new Random(worker);
        while (!stop.IsCancellationRequested)
        {
            ulong amount = (ulong)random.Next(1, 1000);
            string outcome;
            try
            {
                var reply = await alice.SendAsync(TestPeer.Payment("g.bob.x", amount, PacketExpirySeconds));
                outcome = reply is IlpFulfill ? "fulfilled" : "rejected";
            }
            catch (Exception)
            {
                // Connection dropped by the kill: the sender never learned the outcome.
                outcome = "no-reply";
            }
            lock (sent) sent.Add((amount, outcome));
            if (outcome == "no-reply") return;
        }
    }

    private static ulong Sum(List<(ulong Amount, string Outcome)> sent, string outcome)
    {
        lock (sent) return sent.Where(s => s.Outcome == outcome).Aggregate(0UL, (acc, s) => acc + s.Amount);
    }
}
