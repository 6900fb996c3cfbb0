using System.Text;

namespace M2M.Wallets.Tests;

[Trait("Tier", "integration")]
public class BackupTests
{
    private static WalletStoreOptions Fast(string? mnemonic = null) => new() { Iterations = TestFiles.FastIterations, ImportMnemonic = mnemonic };

    /// <summary>A store with three agents (one suspended, one archived) and its backup, exported with fast PBKDF2.</summary>
    private static async Task<(string Store, string Backup, List<AgentWallet> Wallets)> StoreWithBackup(TempDir dir, string exportPassword = "pw")
    {
        var path = dir.File("agent-wallets.db");
        List<AgentWallet> wallets;
        using (var store = WalletStore.Open(path, "pw", Fast(TestFiles.TestMnemonic)))
        {
            foreach (var a in new[] { "agent-a", "agent-b", "agent-c" }) await store.CreateAsync(a);
            store.Suspend("agent-b", "test");
            store.Archive("agent-c");
            var backup = dir.File("wallets.m2mbackup");
            var header = WalletBackup.Export(store, exportPassword, backup, TestFiles.FastIterations);
            Assert.Equal((3, 6, 6, "2.0"), (header.Agents, header.WalletRows, header.AuditRows, header.SchemaVersion));
            wallets = store.List().ToList();
        }
        return (path, dir.File("wallets.m2mbackup"), wallets);
    }

    [Fact]
    public async Task Round_trip_restores_every_row_and_re_derives_the_addresses()
    {
        using var dir = new TempDir();
        var (_, backup, wallets) = await StoreWithBackup(dir);
        var text = File.ReadAllText(backup);
        Assert.StartsWith("M2M-WALLET-BACKUP 1\n", text);
        Assert.DoesNotContain("agent-a", text); // the payload is encrypted
        Assert.DoesNotContain("abandon", text);

        var target = dir.File("restored/agent-wallets.db");
        var report = WalletBackup.Restore(backup, "pw", "pw", target, force: false, dryRun: false);
        Assert.Equal(3, report.Agents);
        Assert.Contains("re-derived", report.Message);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(target));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(backup));
        }
        using var restored = WalletStore.OpenExisting(target, "pw");
        Assert.Equal(wallets, restored.List());
        Assert.Equal(WalletStatus.Archived, restored.Get("agent-c")!.Status);
        Assert.Equal(3, restored.VerifyAddresses());
        Assert.Equal(["vault-created", "created", "created", "created", "suspended", "archived", "restored"], restored.AuditTrail().Select(a => a.Action));
        // The restored store continues the index sequence.
        Assert.Equal(3, (await restored.CreateAsync("agent-d")).DerivationIndex);
    }

    [Fact]
    public async Task A_corrupted_byte_anywhere_is_detected_and_nothing_is_written()
    {
        using var dir = new TempDir();
        var (_, backup, _) = await StoreWithBackup(dir);
        var original = File.ReadAllBytes(backup);
        foreach (var at in new[] { 5, original.Length / 3, original.Length / 2, original.Length - 10 })
        {
            var bytes = (byte[])original.Clone();
            bytes[at] ^= 0x01;
            File.WriteAllBytes(backup, bytes);
            var target = dir.File($"target-{at}.db");
            var e = Assert.Throws<WalletBackupException>(() => WalletBackup.Restore(backup, "pw", "pw", target, false, false));
            Assert.Contains("corrupted", e.Message);
            Assert.False(File.Exists(target));
        }
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp", SearchOption.AllDirectories)); // no temporary left
    }

    [Fact]
    public async Task A_tampered_header_with_a_fixed_checksum_fails_authentication()
    {
        using var dir = new TempDir();
        var (_, backup, _) = await StoreWithBackup(dir);
        var lines = File.ReadAllText(backup).Split('\n');
        lines[1] = lines[1].Replace("\"agents\":3", "\"agents\":4", StringComparison.Ordinal);
        var body = $"{lines[0]}\n{lines[1]}\n{lines[2]}\n";
        var sha = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(body))).ToLowerInvariant();
        File.WriteAllText(backup, body + $"sha256 {sha}\n");
        // The header is the AES-GCM associated data: a changed header does not decrypt.
        Assert.Throws<WalletPasswordException>(() => WalletBackup.Inspect(backup, "pw"));
    }

    [Fact]
    public async Task Wrong_passwords_are_clear_errors_and_change_nothing()
    {
        using var dir = new TempDir();
        var (store, backup, _) = await StoreWithBackup(dir, exportPassword: "export-pw");
        var before = TestFiles.Sha256(store);

        var e = Assert.Throws<WalletPasswordException>(() => WalletBackup.Restore(backup, "nope", "pw", store, force: true, dryRun: false));
        Assert.StartsWith("wrong backup password", e.Message);
        // Right export password, wrong wallet password: the seed does not unseal, nothing replaced.
        var w = Assert.Throws<WalletPasswordException>(() => WalletBackup.Restore(backup, "export-pw", "nope", store, force: true, dryRun: false));
        Assert.Equal("wrong wallet password", w.Message);
        Assert.Equal(before, TestFiles.Sha256(store));
        Assert.Empty(Directory.GetFiles(dir.Path, "*pre-restore*"));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
    }

    [Fact]
    public async Task Restore_refuses_an_existing_store_without_force_and_keeps_the_old_one_with_force()
    {
        using var dir = new TempDir();
        var (store, backup, _) = await StoreWithBackup(dir);
        using (var s = WalletStore.OpenExisting(store, "pw")) await s.CreateAsync("agent-after-backup");
        var before = TestFiles.Sha256(store);

        var e = Assert.Throws<WalletBackupException>(() => WalletBackup.Restore(backup, "pw", "pw", store, force: false, dryRun: false));
        Assert.Contains("--force", e.Message);
        var dry = WalletBackup.Restore(backup, "pw", "pw", store, force: false, dryRun: true);
        Assert.Contains("nothing written", dry.Message);
        Assert.Equal(before, TestFiles.Sha256(store));

        var report = WalletBackup.Restore(backup, "pw", "pw", store, force: true, dryRun: false);
        Assert.NotNull(report.PreviousStoreCopy);
        Assert.Equal(before, TestFiles.Sha256(report.PreviousStoreCopy!));
        using var restored = WalletStore.OpenExisting(store, "pw");
        Assert.Null(restored.Get("agent-after-backup"));
        Assert.Equal(3, restored.List().Count);
    }

    [Fact]
    public async Task Restore_detects_addresses_the_seed_does_not_derive()
    {
        using var dir = new TempDir();
        var path = dir.File("agent-wallets.db");
        using (var store = WalletStore.Open(path, "pw", Fast(TestFiles.TestMnemonic))) await store.CreateAsync("agent-a");
        using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=false"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "UPDATE wallets SET address = '0x0000000000000000000000000000000000000001' WHERE chain = 'evm'";
            cmd.ExecuteNonQuery();
        }
        using (var store = WalletStore.OpenExisting(path, "pw"))
        {
            Assert.Throws<WalletStoreException>(() => store.VerifyAddresses());
            WalletBackup.Export(store, "pw", dir.File("b"), TestFiles.FastIterations);
        }
        var e = Assert.Throws<WalletStoreException>(() => WalletBackup.Restore(dir.File("b"), "pw", "pw", dir.File("t.db"), false, false));
        Assert.Contains("agent-a", e.Message);
        Assert.False(File.Exists(dir.File("t.db")));
    }

    [Fact]
    public async Task Export_refuses_to_overwrite_a_file()
    {
        using var dir = new TempDir();
        var (store, backup, _) = await StoreWithBackup(dir);
        var sha = TestFiles.Sha256(backup);
        using var s = WalletStore.OpenExisting(store, "pw");
        Assert.Throws<WalletBackupException>(() => WalletBackup.Export(s, "pw", backup, TestFiles.FastIterations));
        Assert.Equal(sha, TestFiles.Sha256(backup));
    }
}
