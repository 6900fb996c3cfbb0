using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using M2M.Wallets;
using Microsoft.Data.Sqlite;
using M2M.TestKit;

namespace M2M.Cli.Tests;

/// <summary>`wallet init | backup | restore` and `migrate-wallet` run as the real executable on real files.</summary>
[Trait("Tier", "process")]
public sealed partial class WalletCliTests : IDisposable
{
    private const string TestMnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    private readonly string _dir = Directory.CreateTempSubdirectory("m2m-wallet-cli-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string File_(string name) => Path.Combine(_dir, name);

    private static Dictionary<string, string> Env(string password = "wallet-pw") =>
        new() { ["WALLET_PASSWORD"] = password, ["WALLET_PASSWORD_FILE"] = "", ["WALLET_DB_PATH"] = "" };

    private static string Sha(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    /// <summary>An error is exactly one line on stderr, starting "error: ", never a stack trace.</summary>
    private static void OneErrorLine(int code, string stderr, string contains)
    {
        Assert.NotEqual(0, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("error: ", StringComparison.Ordinal)).ToList();
        Assert.Contains(contains, Assert.Single(lines));
        Assert.DoesNotContain("   at ", stderr);
    }

    [GeneratedRegex(@"\b\d{1,2}\. ([a-z]+)")]
    private static partial Regex NumberedWord();

    [Fact]
    public async Task Init_prints_a_new_mnemonic_once_and_refuses_to_overwrite_the_seed()
    {
        var db = File_("data/agent-wallets.db");
        var (code, stdout, stderr) = await CliProcess.RunAsync(Env(), "wallet", "init", "--path", db);
        Assert.True(code == 0, stderr);
        var words = NumberedWord().Matches(stdout).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(24, words.Count);
        Assert.Contains("shown ONLY NOW", stdout);
        using (var store = WalletStore.OpenExisting(db, "wallet-pw"))
            Assert.Equal(string.Join(' ', words), store.ExportMnemonic());
        Assert.DoesNotContain(words[0] + " " + words[1] + " " + words[2], File.ReadAllText(db, Encoding.Latin1)); // sealed, not stored in clear

        var sha = Sha(db);
        var again = await CliProcess.RunAsync(Env(), "wallet", "init", "--path", db);
        OneErrorLine(again.Code, again.Stderr, "already holds a master seed");
        Assert.DoesNotContain(words[5], again.Stdout + again.Stderr);
        var imported = File_("words.txt");
        File.WriteAllText(imported, TestMnemonic);
        var import = await CliProcess.RunAsync(Env("other"), "wallet", "init", "--path", db, "--import-mnemonic-file", imported);
        OneErrorLine(import.Code, import.Stderr, "refusing to overwrite");
        Assert.Equal(sha, Sha(db));
    }

    [Fact]
    public async Task Init_imports_a_mnemonic_file_and_bad_input_is_one_line()
    {
        var words = File_("words.txt");
        File.WriteAllText(words, "  " + TestMnemonic.Replace(" abandon about", "\nabandon about\n", StringComparison.Ordinal));
        var db = File_("agent-wallets.db");
        var ok = await CliProcess.RunAsync(Env(), "wallet", "init", "--path", db, "--import-mnemonic-file", words);
        Assert.True(ok.Code == 0, ok.Stderr);
        Assert.Contains("imported mnemonic sealed", ok.Stdout);
        Assert.DoesNotContain("abandon", ok.Stdout + ok.Stderr);
        using (var store = WalletStore.OpenExisting(db, "wallet-pw"))
            Assert.Equal(TestMnemonic, store.ExportMnemonic());

        File.WriteAllText(words, "abandon abandon abandon");
        var bad = await CliProcess.RunAsync(Env(), "wallet", "init", "--path", File_("b.db"), "--import-mnemonic-file", words);
        OneErrorLine(bad.Code, bad.Stderr, "invalid BIP-39 mnemonic");
        Assert.DoesNotContain("abandon", bad.Stderr);
        Assert.False(File.Exists(File_("b.db")));
        var noPassword = await CliProcess.RunAsync(Env(""), "wallet", "init", "--path", File_("c.db"));
        OneErrorLine(noPassword.Code, noPassword.Stderr, "set WALLET_PASSWORD");
        Assert.False(File.Exists(File_("c.db")));
    }

    /// <summary>A store with three agents sealed with the test mnemonic (fast PBKDF2 so the test stays quick).</summary>
    private async Task<(string Db, List<AgentWallet> Wallets)> Store()
    {
        var db = File_("agent-wallets.db");
        using var store = WalletStore.Init(db, "wallet-pw", TestMnemonic, new WalletStoreOptions { Iterations = 1_000 });
        foreach (var a in new[] { "agent-a", "agent-b", "agent-c" }) await store.CreateAsync(a);
        store.Suspend("agent-b");
        return (db, store.List().ToList());
    }

    [Fact]
    public async Task Backup_then_restore_round_trips_and_wrong_passwords_change_nothing()
    {
        var (db, wallets) = await Store();
        var storeSha = Sha(db);
        var backup = File_("wallets.backup");

        var wrong = await CliProcess.RunAsync(Env("not-it"), "wallet", "backup", "--path", db, "--out", backup);
        OneErrorLine(wrong.Code, wrong.Stderr, "wrong wallet password");
        Assert.False(File.Exists(backup));
        Assert.Equal(storeSha, Sha(db));

        var exportPw = File_("export.pw");
        File.WriteAllText(exportPw, "export-secret\n");
        var made = await CliProcess.RunAsync(Env(), "wallet", "backup", "--path", db, "--out", backup, "--export-password-file", exportPw);
        Assert.True(made.Code == 0, made.Stderr);
        Assert.Contains("agents: 3, wallets rows: 6", made.Stdout);
        Assert.Contains("verified", made.Stdout);
        Assert.Equal(storeSha, Sha(db));

        var target = File_("restored/agent-wallets.db");
        var badExport = await CliProcess.RunAsync(Env(), "wallet", "restore", "--from", backup, "--path", target);
        OneErrorLine(badExport.Code, badExport.Stderr, "wrong backup password");
        Assert.False(File.Exists(target));

        var dry = await CliProcess.RunAsync(Env(), "wallet", "restore", "--from", backup, "--path", target, "--export-password-file", exportPw, "--dry-run");
        Assert.True(dry.Code == 0, dry.Stderr);
        Assert.Contains("nothing written", dry.Stdout);
        Assert.False(File.Exists(target));

        var restored = await CliProcess.RunAsync(Env(), "wallet", "restore", "--from", backup, "--path", target, "--export-password-file", exportPw);
        Assert.True(restored.Code == 0, restored.Stderr);
        Assert.Contains("restored 3 agents", restored.Stdout);
        using (var s = WalletStore.OpenExisting(target, "wallet-pw"))
            Assert.Equal(wallets, s.List());

        // An existing store is not replaced without --force; a wrong wallet password replaces nothing even with it.
        var targetSha = Sha(target);
        var noForce = await CliProcess.RunAsync(Env(), "wallet", "restore", "--from", backup, "--path", target, "--export-password-file", exportPw);
        OneErrorLine(noForce.Code, noForce.Stderr, "--force");
        var wrongWallet = await CliProcess.RunAsync(Env("not-it"), "wallet", "restore", "--from", backup, "--path", target, "--export-password-file", exportPw, "--force");
        OneErrorLine(wrongWallet.Code, wrongWallet.Stderr, "wrong wallet password");
        Assert.Equal(targetSha, Sha(target));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(target)!, "*pre-restore*"));
    }

    [Fact]
    public async Task A_corrupted_backup_is_refused_with_one_line()
    {
        var (db, _) = await Store();
        var backup = File_("wallets.backup");
        var made = await CliProcess.RunAsync(Env(), "wallet", "backup", "--path", db, "--out", backup);
        Assert.True(made.Code == 0, made.Stderr);
        var bytes = File.ReadAllBytes(backup);
        bytes[bytes.Length / 2] ^= 0x04;
        File.WriteAllBytes(backup, bytes);
        var target = File_("t.db");
        var r = await CliProcess.RunAsync(Env(), "wallet", "restore", "--from", backup, "--path", target, "--dry-run");
        OneErrorLine(r.Code, r.Stderr, "corrupted");
        Assert.False(File.Exists(target));
    }

    [Fact]
    public async Task A_migration_killed_mid_transaction_leaves_1_0_and_a_rerun_migrates()
    {
        var db = File_("agent-wallets.db");
        File.Copy(Path.Combine(CliProcess.RepoRoot(), "tests", "fixtures", "wallet-1.0", "agent-wallets-1.0.db"), db);
        var before = Dump(db);

        using (var p = CliProcess.Start(new Dictionary<string, string> { ["M2M_PAUSEPOINT"] = "wallet-migration-mid" },
                   "migrate-wallet", "--from=1.0", "--to=2.0", "--path", db))
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!p.Stderr.Contains("paused at wallet-migration-mid", StringComparison.Ordinal))
            {
                Assert.True(DateTime.UtcNow < deadline, $"no pause: {p.Stdout}{p.Stderr}");
                await Task.Delay(50);
            }
            // Mid-transaction: the 2.0 tables and some agents' rows are written, uncommitted (the rollback journal is live).
            Assert.True(File.Exists(db + "-journal"));
            p.Signal(CliProcess.SIGKILL);
            await p.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }

        // What an operator runs next (a read-only open first) sees the 1.0 store.
        var dry = await CliProcess.RunAsync(null, "migrate-wallet", "--from=1.0", "--to=2.0", "--dry-run", "--path", db);
        Assert.True(dry.Code == 0, dry.Stderr);
        Assert.Contains("agents: 5", dry.Stdout);
        Assert.Equal(before, Dump(db));
        Assert.Equal(WalletSchema.V1, WalletSchema.DetectVersion(db));

        var rerun = await CliProcess.RunAsync(null, "migrate-wallet", "--from=1.0", "--to=2.0", "--path", db);
        Assert.True(rerun.Code == 0, rerun.Stderr);
        Assert.Contains("wallet rows written: 10", rerun.Stdout);
        Assert.Equal(10L, Scalar(db, "SELECT count(*) FROM wallets"));
        Assert.Equal(5L, Scalar(db, "SELECT count(*) FROM wallets w JOIN agent_wallets a ON a.agent_id = w.agent_id AND a.derivation_index = w.derivation_index " +
                                    "AND w.chain = 'evm' AND a.evm_address = w.address"));

        // The guide's next step: seal the 1.x mnemonic; every migrated address is re-derived and checked.
        var words = File_("words.txt");
        File.WriteAllText(words, TestMnemonic + "\n");
        var seal = await CliProcess.RunAsync(Env(), "wallet", "init", "--path", db, "--import-mnemonic-file", words);
        Assert.True(seal.Code == 0, seal.Stderr);
        Assert.Contains("all 5 existing agents' addresses re-derived and matched", seal.Stdout);
    }

    /// <summary>Every table's name, columns and rows in order: identical dumps mean identical content.</summary>
    private static string Dump(string db)
    {
        using var c = new SqliteConnection($"Data Source={db};Pooling=false");
        c.Open();
        var tables = new List<string>();
        using (var cmd = c.CreateCommand())
        {
            cmd.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name";
            using var r = cmd.ExecuteReader();
            while (r.Read()) tables.Add(r.GetString(0));
        }
        var sb = new StringBuilder();
        foreach (var t in tables)
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = $"SELECT * FROM \"{t}\" ORDER BY rowid";
            using var r = cmd.ExecuteReader();
            sb.Append("table ").AppendLine(t);
            while (r.Read())
                sb.AppendLine(string.Join('|', Enumerable.Range(0, r.FieldCount).Select(i => r.IsDBNull(i) ? "NULL" : Convert.ToString(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
        }
        return sb.ToString();
    }

    private static long Scalar(string db, string sql)
    {
        using var c = new SqliteConnection($"Data Source={db};Pooling=false");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return (long)cmd.ExecuteScalar()!;
    }
}
