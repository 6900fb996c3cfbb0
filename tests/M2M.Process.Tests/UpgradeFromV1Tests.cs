using System.Text.Json;
using M2M.Migrations;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>
/// Upgrade of a 1.x install (tests/fixtures/v1-install, made by make_fixture.py) in the guide's order:
/// verified backup (scripts/backup.sh), ledger import of the 1.x balances export, migrate-wallet,
/// then start 2.0 with the 1.x .env names. Balances and wallets identical; /health healthy.
/// </summary>
[Collection("data")]
[Trait("Tier", "process")]
public class UpgradeFromV1Tests
{
    [Fact]
    public async Task A_1x_install_upgrades_with_balances_and_wallets_identical_and_health_healthy()
    {
        string fixture = Path.Combine(CliProcess.RepoRoot(), "tests", "fixtures", "v1-install");
        string dir = Directory.CreateTempSubdirectory("m2m-v1-upgrade-").FullName;
        CopyTree(Path.Combine(fixture, "install"), dir);
        var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixture, "expected.json"))).RootElement;
        int btp = CliProcess.FreePort(), http = CliProcess.FreePort();
        var env = DotEnv(Path.Combine(dir, ".env"));
        Assert.True(env.ContainsKey("BTP_PORT") && env.ContainsKey("SETTLEMENT_METHOD"), "the fixture must use the 1.x names");
        env["BTP_PORT"] = btp.ToString();
        env["HEALTH_CHECK_PORT"] = http.ToString();
        env["BIND_ADDRESS"] = "127.0.0.1";
        env["CONFIG_FILE"] = Path.Combine(dir, "config.yaml");
        env["LEDGER_PATH"] = Path.Combine(dir, "data", "ledger.db");
        env["WALLET_DB_PATH"] = Path.Combine(dir, env["WALLET_DB_PATH"]);

        // Pre-migration step 3: full backup with verification (of the 1.x data: the wallet store).
        var backup = await ScriptRunner.RunAsync("backup.sh", dir, new Dictionary<string, string>(env) { ["DEPLOY_MODE"] = "bare", ["M2M_CONNECTOR"] = $"dotnet {ScriptRunner.Dll}" },
            "--full", "--verify", "--out", Path.Combine(dir, "backup", "pre-upgrade"));
        Assert.True(backup.Code == 0, backup.Stdout + backup.Stderr);
        Assert.Contains("backup verified", backup.Stdout);

        // Ledger migration: the 1.x balances export, then the wallet store 1.0 -> 2.0.
        var import = await CliProcess.RunAsync(env, "ledger", "import", Path.Combine(dir, "balances-export.json"));
        Assert.True(import.Code == 0, import.Stdout + import.Stderr);
        var wallet = await CliProcess.RunAsync(env, "migrate-wallet", "--from=1.0", "--to=2.0", "--path", env["WALLET_DB_PATH"]);
        Assert.True(wallet.Code == 0, wallet.Stdout + wallet.Stderr);

        using var connector = CliProcess.Start(env, "run");
        await CliProcess.WaitForHealth($"http://127.0.0.1:{http}/health", connector);
        await using var a = await TestPeer.ConnectAsync(btp, "peer-a", "peer-a-secret");
        await using var b = await TestPeer.ConnectAsync(btp, "peer-b", "peer-b-secret");
        Assert.Equal("healthy", await HealthStatus(http));
        Assert.Contains("BTP_PORT", connector.Stdout + connector.Stderr);

        var balances = await CliProcess.RunAsync(env, "ledger", "balances");
        Assert.Equal(0, balances.Code);
        foreach (var e in expected.GetProperty("balances").EnumerateObject())
            Assert.Matches($@"(?m)^{System.Text.RegularExpressions.Regex.Escape(e.Name)}\s+{e.Value.GetString()}\s", balances.Stdout);
        Assert.Equal(expected.GetProperty("wallets").EnumerateArray().Select(w => w.GetString()!).ToList(), WalletAddresses(env["WALLET_DB_PATH"]));
        connector.Signal(CliProcess.SIGTERM);
        Assert.Equal(0, await connector.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Directory.Delete(dir, recursive: true);
    }

    private static async Task<string?> HealthStatus(int port)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        for (int i = 0; i < 50; i++)
        {
            using var doc = JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/health"));
            string? status = doc.RootElement.GetProperty("status").GetString();
            if (status == "healthy") return status;
            await Task.Delay(100);
        }
        return "not healthy after 5 s";
    }

    private static List<string> WalletAddresses(string path)
    {
        using var c = SqliteFiles.OpenReadOnly(path);
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT address FROM wallets";
        using var r = cmd.ExecuteReader();
        var list = new List<string>();
        while (r.Read()) list.Add(r.GetString(0));
        return list.Order(StringComparer.Ordinal).ToList();
    }

    internal static Dictionary<string, string> DotEnv(string path) =>
        File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#') && l.Contains('='))
            .ToDictionary(l => l[..l.IndexOf('=')], l => l[(l.IndexOf('=') + 1)..]);

    private static void CopyTree(string from, string to)
    {
        foreach (string d in Directory.GetDirectories(from, "*", SearchOption.AllDirectories)) Directory.CreateDirectory(d.Replace(from, to));
        foreach (string f in Directory.GetFiles(from, "*", SearchOption.AllDirectories)) File.Copy(f, f.Replace(from, to), overwrite: true);
    }
}
