using System.Diagnostics;
using Xunit.Abstractions;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>
/// Issue 13, defect 5: one owner per SQLite ledger, by an OS lock on the ledger file itself. The
/// edge is driven from outside: a running connector process, its lock file deleted, then a second
/// connector and the writer tools (ledger import, restore, migrate-wallet) on the same files.
/// </summary>
[Collection("data")]
public class LedgerOwnershipTests(ITestOutputHelper output)
{
    [Fact]
    [Trait("Tier", "process")]
    public async Task Deleting_the_lock_file_lets_no_second_connector_or_writer_tool_in_and_the_books_match_what_alice_saw()
    {
        using var node = new DataTestNode("owner");
        var env = node.EnvWith(("WALLET_PASSWORD", "wallet-pw"), ("WALLET_PASSWORD_FILE", ""));
        string walletDb = env["WALLET_DB_PATH"];
        var init = await CliProcess.RunAsync(env, "wallet", "init", "--path", walletDb);
        Assert.True(init.Code == 0, init.Stderr);
        using var first = await node.StartAsync(env);
        ulong paid = await node.PayAsync(5, 10);
        Assert.Equal(50UL, paid);

        File.Delete(node.LedgerPath + ".lock"); // the old proof of ownership, gone
        // The owner projects its ledger log into the tables once idle (100 ms after the last call): wait until its own
        // writes have settled, so a change below is a write by one of the tools.
        var before = await SettledFileState(node.LedgerPath);
        var secondEnv = new Dictionary<string, string>(env)
        {
            ["BTP_SERVER_PORT"] = CliProcess.FreePort().ToString(), ["HEALTH_CHECK_PORT"] = CliProcess.FreePort().ToString(),
        };
        var watch = Stopwatch.StartNew();
        using var second = CliProcess.Start(secondEnv, "run", "--config", node.Config);
        int code = await second.WaitForExitAsync(TimeSpan.FromSeconds(60));
        output.WriteLine($"second connector: exit {code} after {watch.Elapsed.TotalSeconds:F1} s: {second.Stderr.Trim()}");
        OneErrorLine(code, second.Stderr, "is in use by another connector process");

        string balances = Path.Combine(node.Dir, "balances.json");
        File.WriteAllText(balances, """{"format": "m2m-balances/1", "balances": [{"peerId": "alice", "asset": "USD", "scale": 9, "balance": "-700"}]}""");
        var import = await node.Cli(null, "ledger", "import", balances);
        OneErrorLine(import.Code, import.Stderr, "is in use by another connector process");
        string backup = Path.Combine(node.Dir, "online-backup");
        var made = await node.Cli(null, "backup", "--full", "--verify", "--out", backup);
        Assert.True(made.Code == 0, made.Stderr);
        var restore = await node.Cli(null, "restore", "--from", backup, "--force");
        OneErrorLine(restore.Code, restore.Stderr, "the connector is running");
        var migrate = await CliProcess.RunAsync(env, "migrate-wallet", "--from=1.0", "--to=2.0", "--path", walletDb);
        OneErrorLine(migrate.Code, migrate.Stderr, "is in use by another connector process");
        Assert.Equal(before, FileState(node.LedgerPath)); // 0 writes by any of them

        paid += await node.PayAsync(5, 10); // the owner still serves
        await DataTestNode.StopAsync(first);
        var verify = await node.Cli(null, "ledger", "verify");
        output.WriteLine(verify.Stdout.Trim());
        Assert.True(verify.Code == 0, verify.Stdout);
        Assert.Equal((UInt128)paid, await DataTestNode.DebitsPosted(node.LedgerPath, "peer:alice"));
        Assert.Equal(100UL, paid);

        // Once the owner is gone, nothing stale is left behind: the next start just works.
        using var next = await node.StartAsync(env);
        await DataTestNode.StopAsync(next);
    }

    /// <summary>(size, mtime) of the ledger and its WAL: any write by a refused process would change one.</summary>
    private static async Task<string> SettledFileState(string ledger)
    {
        string last = FileState(ledger);
        var settled = Stopwatch.StartNew();
        for (var limit = Stopwatch.StartNew(); limit.Elapsed < TimeSpan.FromSeconds(20) && settled.Elapsed < TimeSpan.FromSeconds(2);)
        {
            await Task.Delay(250);
            string now = FileState(ledger);
            if (now != last) (last, settled) = (now, Stopwatch.StartNew());
        }
        return last;
    }

    private static string FileState(string ledger) =>
        string.Join(" ", new[] { ledger, ledger + "-wal" }.Select(f => File.Exists(f) ? $"{new FileInfo(f).Length}@{File.GetLastWriteTimeUtc(f):O}" : "none"));

    /// <summary>An error is exactly one line on stderr starting "error: ", never a stack trace.</summary>
    internal static void OneErrorLine(int code, string stderr, string contains)
    {
        Assert.NotEqual(0, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("error: ", StringComparison.Ordinal)).ToList();
        Assert.Contains(contains, Assert.Single(lines));
        Assert.DoesNotContain("   at ", stderr);
    }
}
