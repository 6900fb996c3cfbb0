using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>
/// Issue 13 item 9, through the real executable: every file the connector writes (ledger and its -wal/-shm,
/// settlement store, journals, wallet, backups) is 0600 and every directory it creates 0700; a bad
/// PostgreSQL URL is one error line, never a stack trace.
/// </summary>
[Trait("Tier", "process")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class PrivateFilesTests
{
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    [Fact]
    public async Task Ledger_settlement_wallet_and_backup_files_are_private_to_the_user()
    {
        using var node = new DataTestNode("private");
        var env = node.EnvWith(("WALLET_PASSWORD", "wallet-pw"), ("WALLET_PASSWORD_FILE", ""));
        var run = await node.StartAsync(env);
        await node.PayAsync(5);
        var wallet = await CliProcess.RunAsync(env, "wallet", "init", "--path", Path.Combine(node.Dir, "data", "wallet", "cli-wallet.db"));
        Assert.True(wallet.Code == 0, wallet.Stderr);
        await DataTestNode.StopAsync(run);
        var backup = await node.Cli(env, "backup", "--full", "--verify", "--out", Path.Combine(node.Dir, "data", "backups", "b1"));
        Assert.True(backup.Code == 0, backup.Stdout + backup.Stderr);

        string data = Path.Combine(node.Dir, "data");
        var files = Directory.EnumerateFiles(data, "*", SearchOption.AllDirectories).ToList();
        var dirs = Directory.EnumerateDirectories(data, "*", SearchOption.AllDirectories).Append(data).ToList();
        Assert.Contains(files, f => f.EndsWith("ledger.db", StringComparison.Ordinal));
        Assert.DoesNotContain(files, f => f.EndsWith("settlements.db", StringComparison.Ordinal)); // its tables are in ledger.db since 2.1
        Assert.Contains(files, f => f.Contains("backups", StringComparison.Ordinal));
        Assert.Contains(files, f => f.EndsWith("cli-wallet.db", StringComparison.Ordinal));
        var open = files.Concat(dirs).Where(p => (File.GetUnixFileMode(p) & GroupOrOther) != 0).Select(p => $"{p} {File.GetUnixFileMode(p)}").ToList();
        Assert.True(open.Count == 0, "readable by group or others:\n" + string.Join("\n", open));
    }

    [Theory]
    [InlineData("postgres://m2m:hunter2@db.example:notaport/ledger")]
    [InlineData("Host=db;Password=hunter2;Port=notanumber")]
    public async Task A_bad_postgres_url_is_one_error_line_without_the_password(string url)
    {
        using var node = new DataTestNode("badpg");
        var (code, stdout, stderr) = await node.Cli(node.EnvWith(("LEDGER_BACKEND", "postgres"), ("LEDGER_POSTGRES_URL", url)), "run");
        Assert.Equal(1, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("ledger.postgresUrl (LEDGER_POSTGRES_URL)", Assert.Single(lines));
        Assert.DoesNotContain("hunter2", stdout + stderr);
        Assert.DoesNotContain("   at ", stderr);
    }
}
