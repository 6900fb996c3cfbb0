using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Ledger.Sqlite;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>
/// A connector install in a temporary directory for the data tests: config (alice pays bob),
/// data/ledger.db, data/wallet, free ports. Runs the real executable: `Start` for `run`,
/// `Cli` for one-shot commands with the same environment.
/// </summary>
internal sealed class DataTestNode : IDisposable
{
    public DataTestNode(string name)
    {
        Dir = Directory.CreateTempSubdirectory($"m2m-{name}-").FullName;
        Config = Path.Combine(Dir, "config.yaml");
        File.WriteAllText(Config, $"""
            nodeId: {name}
            ilpAddress: g.{name}
            peers:
              - {"{"} id: alice, authToken: alice-secret, creditLimit: 1000000000 {"}"}
              - {"{"} id: bob, authToken: bob-secret {"}"}
            routes:
              - {"{"} prefix: g.bob, nextHop: bob {"}"}
            """);
        Env = new Dictionary<string, string>
        {
            ["BTP_SERVER_PORT"] = BtpPort.ToString(), ["HEALTH_CHECK_PORT"] = HttpPort.ToString(), ["BIND_ADDRESS"] = "127.0.0.1",
            ["LEDGER_PATH"] = LedgerPath, ["WALLET_DB_PATH"] = Path.Combine(Dir, "data", "wallet", "agent-wallets.db"),
        };
    }

    public string Dir { get; }
    public string Config { get; }
    public string LedgerPath => Path.Combine(Dir, "data", "ledger.db");
    public string BackupsDir => Path.Combine(Dir, "data", "backups");
    public int BtpPort { get; } = CliProcess.FreePort();
    public int HttpPort { get; } = CliProcess.FreePort();
    public Dictionary<string, string> Env { get; }
    public string HealthUrl => $"http://127.0.0.1:{HttpPort}/health";

    public Dictionary<string, string> EnvWith(params (string Key, string Value)[] extra)
    {
        var env = new Dictionary<string, string>(Env);
        foreach (var (k, v) in extra) env[k] = v;
        return env;
    }

    public async Task<CliProcess> StartAsync(IDictionary<string, string>? env = null)
    {
        var p = CliProcess.Start(env ?? Env, "run", "--config", Config);
        await CliProcess.WaitForHealth(HealthUrl, p);
        return p;
    }

    public static async Task StopAsync(CliProcess p)
    {
        p.Signal(CliProcess.SIGTERM);
        Assert.Equal(0, await p.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    public Task<(int Code, string Stdout, string Stderr)> Cli(IDictionary<string, string>? env, params string[] args) =>
        CliProcess.RunAsync(env ?? Env, [.. args, "--config", Config]);

    /// <summary>Sends <paramref name="count"/> payments alice → bob; returns the fulfilled amount.</summary>
    public async Task<ulong> PayAsync(int count, ulong amount = 10)
    {
        await using var alice = await TestPeer.ConnectAsync(BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(BtpPort, "bob", "bob-secret");
        ulong fulfilled = 0;
        for (int i = 0; i < count; i++)
            if (await alice.SendAsync(TestPeer.Payment("g.bob.x", amount)) is IlpFulfill) fulfilled += amount;
        return fulfilled;
    }

    /// <summary>Every account's (name, posted balance, pending) from a ledger file, read as `ledger balances` does.</summary>
    public static async Task<string> Balances(string ledgerPath)
    {
        await using var s = SqliteSnapshot.Open(ledgerPath);
        return string.Join("\n", s.Accounts().Select(a => $"{a.Name} {a.PostedBalance} {a.DebitsPending} {a.CreditsPending}"));
    }

    public static async Task<UInt128> DebitsPosted(string ledgerPath, string prefix)
    {
        await using var s = SqliteSnapshot.Open(ledgerPath);
        return s.Accounts().Single(a => a.Name.StartsWith(prefix, StringComparison.Ordinal)).DebitsPosted;
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}
