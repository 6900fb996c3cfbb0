using System.Text.Json;
using M2M.TestKit;

namespace M2M.Cli.Tests;

[Trait("Tier", "process")]
public class CliTests
{
    [Fact]
    public async Task Version_prints_the_version()
    {
        var (code, stdout, _) = await CliProcess.RunAsync(null, "version");
        Assert.Equal(0, code);
        Assert.Matches(@"^m2m-connector \d+\.\d+\.\d+", stdout);
    }

    [Fact]
    public async Task Config_validate_accepts_the_shipped_example()
    {
        var (code, stdout, stderr) = await CliProcess.RunAsync(null, "config", "validate", Path.Combine(CliProcess.RepoRoot(), "examples", "single-node.yaml"));
        Assert.True(code == 0, stderr);
        Assert.Contains("valid", stdout);
        Assert.Contains("2 peers", stdout);
    }

    [Fact]
    public async Task Config_validate_names_the_exchange_settings_of_the_exchange_example()
    {
        var env = new Dictionary<string, string> { ["BTP_PEER_ALICE_SECRET"] = "a", ["BOB_TOKEN"] = "b" };
        var (code, stdout, stderr) = await CliProcess.RunAsync(env, "config", "validate", Path.Combine(CliProcess.RepoRoot(), "examples", "exchange.yaml"));
        Assert.True(code == 0, stderr);
        Assert.Contains("2 peers", stdout, StringComparison.Ordinal);
        Assert.Contains("exchange: 2 rates, spread 0.002", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Config_validate_lists_each_error_on_one_line_and_exits_1_without_a_stack_trace()
    {
        string file = Path.Combine(Path.GetTempPath(), $"bad-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, "nodeId: n\nbtpServerPort: lots\nlogLevel: loud\n");
        try
        {
            var (code, _, stderr) = await CliProcess.RunAsync(null, "config", "validate", file);
            Assert.Equal(1, code);
            var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(2, lines.Length);
            Assert.All(lines, l => Assert.StartsWith("config error: ", l));
            Assert.Contains(lines, l => l.Contains("btpServerPort") && l.Contains("'lots'"));
            Assert.DoesNotContain("   at ", stderr);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Run_refuses_a_bad_environment_value_with_exit_1()
    {
        var env = new Dictionary<string, string> { ["HEALTH_CHECK_PORT"] = "eighty" };
        var (code, _, stderr) = await CliProcess.RunAsync(env, "run");
        Assert.Equal(1, code);
        Assert.Contains("HEALTH_CHECK_PORT", stderr);
        Assert.Contains("'eighty'", stderr);
    }

    [Fact]
    public async Task Run_reports_a_port_in_use_in_one_line()
    {
        using var blocker = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        blocker.Start();
        int taken = ((System.Net.IPEndPoint)blocker.LocalEndpoint).Port;
        var env = new Dictionary<string, string>
        {
            ["BTP_SERVER_PORT"] = taken.ToString(),
            ["HEALTH_CHECK_PORT"] = CliProcess.FreePort().ToString(),
            ["BIND_ADDRESS"] = "127.0.0.1",
        };
        var (code, _, stderr) = await CliProcess.RunAsync(env, "run");
        Assert.Equal(1, code);
        Assert.Contains("cannot listen", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }
}

[Trait("Tier", "process")]
public class LedgerCommandTests
{
    [Fact]
    public async Task Verify_passes_on_good_books_and_names_each_violation_on_tampered_ones()
    {
        string dir = Directory.CreateTempSubdirectory("m2m-verify-").FullName;
        string path = Path.Combine(dir, "ledger.db");
        await using (var ledger = M2M.Ledger.Sqlite.SqliteLedger.Open(path))
        {
            var alice = M2M.Core.Ledger.PeerAccounts.PeerAccount("alice", "USD", 9, 100);
            var clearing = M2M.Core.Ledger.PeerAccounts.ClearingAccount("USD", 9);
            await ledger.CreateAccountsAsync([alice, clearing]);
            await ledger.CreateTransfersAsync([new M2M.Core.Ledger.Transfer { Id = 1, DebitAccountId = alice.Id, CreditAccountId = clearing.Id, Amount = 60, Ledger = alice.Ledger, Code = 1 }]);
        }
        var env = new Dictionary<string, string> { ["LEDGER_PATH"] = path };

        var (okCode, okOut, _) = await CliProcess.RunAsync(env, "ledger", "verify");
        Assert.Equal(0, okCode);
        Assert.Contains("2 accounts, 1 transfers, 0 open pending, 0 violations: consistent", okOut);
        var (_, balances, _) = await CliProcess.RunAsync(env, "ledger", "balances");
        Assert.Matches(@"peer:alice:USD/9\s+-60\s", balances);

        using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=false"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "UPDATE accounts SET credits_posted = '59' WHERE name LIKE 'clearing%'";
            Assert.Equal(1, cmd.ExecuteNonQuery());
        }
        var (badCode, badOut, _) = await CliProcess.RunAsync(env, "ledger", "verify");
        Assert.Equal(1, badCode);
        Assert.Contains("VIOLATION: account clearing:USD/9: stored totals", badOut);
        Assert.Contains("VIOLATION: ledger", badOut);
        Assert.Contains("INCONSISTENT", badOut);

        var (missingCode, _, missingErr) = await CliProcess.RunAsync(new Dictionary<string, string> { ["LEDGER_PATH"] = Path.Combine(dir, "nope.db") }, "ledger", "verify");
        Assert.Equal(2, missingCode);
        Assert.Contains("does not exist", missingErr);
        Directory.Delete(dir, recursive: true);
    }

    private const string EvmPeerConfig = "nodeId: n\npeers:\n  - id: p\n    settlement:\n      threshold: 100\n      method: evm\n      evm: { rpcUrl: 'http://127.0.0.1:8545', chainId: 1337, contract: '0x5b1869D9A4C187F2EAa108f3062412ecf0526b24', peerAddress: '0x22d491Bde2303f2f43325b2108D26f1eAbA1e32b', depositWei: '1000000000000000000' }\n";

    [Fact]
    public async Task One_shot_commands_that_do_not_sign_run_without_EVM_PRIVATE_KEY_and_run_still_requires_it()
    {
        string dir = Directory.CreateTempSubdirectory("m2m-nokey-").FullName;
        try
        {
            string config = Path.Combine(dir, "config.yaml");
            await File.WriteAllTextAsync(config, EvmPeerConfig);
            string path = Path.Combine(dir, "ledger.db");
            await using (var ledger = M2M.Ledger.Sqlite.SqliteLedger.Open(path))
                await ledger.CreateAccountsAsync([M2M.Core.Ledger.PeerAccounts.PeerAccount("p", "USD", 9, 0)]);
            var env = new Dictionary<string, string> { ["LEDGER_PATH"] = path, ["EVM_PRIVATE_KEY"] = "" };

            var (verifyCode, verifyOut, verifyErr) = await CliProcess.RunAsync(env, "ledger", "verify", "--config", config);
            Assert.True(verifyCode == 0, verifyErr);
            Assert.Contains("consistent", verifyOut);
            var (balancesCode, _, balancesErr) = await CliProcess.RunAsync(env, "ledger", "balances", "--config", config);
            Assert.True(balancesCode == 0, balancesErr);
            var (checkCode, _, checkErr) = await CliProcess.RunAsync(env, "data", "check", "--config", config);
            Assert.True(checkCode == 0, checkErr);

            // run signs settlements: it still refuses to start without the key, in one line.
            env["HEALTH_CHECK_PORT"] = CliProcess.FreePort().ToString();
            env["BTP_SERVER_PORT"] = CliProcess.FreePort().ToString();
            var (runCode, _, runErr) = await CliProcess.RunAsync(env, "run", "--config", config);
            Assert.Equal(1, runCode);
            Assert.Contains("config error: EVM_PRIVATE_KEY", runErr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

[Trait("Tier", "process")]
public class MigrateWalletCommandTests
{
    [Fact]
    public async Task Migrates_the_1_0_fixture_with_a_backup_then_reports_nothing_to_do()
    {
        string dir = Directory.CreateTempSubdirectory("m2m-wallet-").FullName;
        string db = Path.Combine(dir, "agent-wallets.db");
        File.Copy(Path.Combine(CliProcess.RepoRoot(), "tests", "fixtures", "wallet-1.0", "agent-wallets-1.0.db"), db);
        string before = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(db)));

        var dry = await CliProcess.RunAsync(null, "migrate-wallet", "--from=1.0", "--to=2.0", "--dry-run", "--path", db);
        Assert.True(dry.Code == 0, dry.Stderr);
        Assert.Contains("agents: 5", dry.Stdout);
        Assert.Equal(before, Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(db))));

        var real = await CliProcess.RunAsync(null, "migrate-wallet", "--from=1.0", "--to=2.0", "--path", db);
        Assert.True(real.Code == 0, real.Stderr);
        Assert.Contains("wallet rows written: 10", real.Stdout);
        Assert.Single(Directory.GetFiles(dir, "agent-wallets.db.backup-1.0-*"));
        using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={db};Pooling=false"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT count(*) FROM wallets;";
            Assert.Equal(10L, cmd.ExecuteScalar());
        }

        var again = await CliProcess.RunAsync(null, "migrate-wallet", "--from=1.0", "--to=2.0", "--path", db);
        Assert.Equal(0, again.Code);
        Assert.Contains("nothing to do", again.Stdout);
        var wrong = await CliProcess.RunAsync(null, "migrate-wallet", "--from=3.0", "--to=4.0", "--path", db);
        Assert.Equal(1, wrong.Code);
        Assert.StartsWith("error: ", wrong.Stderr);
        Directory.Delete(dir, recursive: true);
    }
}
