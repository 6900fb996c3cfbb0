using Microsoft.Extensions.Time.Testing;

namespace M2M.Wallets.Tests;

[Trait("Tier", "integration")]
public class MigrationTests
{
    private static readonly string[] LegacyTables = ["agent_wallets", "agent_balances", "wallet_lifecycle", "wallet_archives", "agent_channels"];

    private static Dictionary<string, long> LegacyCounts(string path) =>
        LegacyTables.ToDictionary(t => t, t => TestFiles.Count(path, $"SELECT count(*) FROM {t}"));

    private static WalletMigrationOptions At(string iso) => new() { TimeProvider = new FakeTimeProvider(DateTimeOffset.Parse(iso)) };

    [Fact]
    public void Fixture_is_detected_as_1_0()
    {
        Assert.Equal(WalletSchema.V1, WalletSchema.DetectVersion(TestFiles.Fixture));
        Assert.Equal(5, TestFiles.Count(TestFiles.Fixture, "SELECT count(*) FROM agent_wallets"));
    }

    [Fact]
    public void Migrates_the_fixture_with_identical_indexes_addresses_and_a_backup()
    {
        using var dir = new TempDir();
        var path = TestFiles.CopyFixture(dir);
        var legacyBefore = LegacyCounts(path);
        var originalSha = TestFiles.Sha256(path);

        var report = WalletMigrator.Migrate(path, "1.0", "2.0", dryRun: false, At("2026-03-04T05:06:07.890Z"));

        Assert.False(report.DryRun);
        Assert.False(report.AlreadyAtTarget);
        Assert.Equal(5, report.Agents);
        Assert.Equal(10, report.WalletRowsWritten);
        Assert.Equal(path + ".backup-1.0-20260304T050607890Z", report.BackupPath);
        Assert.True(File.Exists(report.BackupPath));
        Assert.Equal(WalletSchema.V1, WalletSchema.DetectVersion(report.BackupPath!));
        Assert.Equal(legacyBefore, LegacyCounts(report.BackupPath!));
        Assert.NotEqual(originalSha, TestFiles.Sha256(path));

        Assert.Equal(WalletSchema.V2, WalletSchema.DetectVersion(path));
        Assert.Equal(10, TestFiles.Count(path, "SELECT count(*) FROM wallets"));
        Assert.Equal(legacyBefore, LegacyCounts(path)); // 1.0 tables kept: nothing lost
        Assert.Equal(5, TestFiles.Count(path, "SELECT count(*) FROM wallet_audit WHERE action = 'migrated'"));

        var rows = TestFiles.Wallets(path);
        foreach (var e in TestFiles.Expected())
        {
            var evm = rows.Single(r => r.Agent == e.AgentId && r.Chain == "evm");
            var xrp = rows.Single(r => r.Agent == e.AgentId && r.Chain == "xrp");
            Assert.Equal(e.DerivationIndex, evm.Index);
            Assert.Equal(e.DerivationIndex, xrp.Index);
            Assert.Equal(e.EvmAddress, evm.Address);
            Assert.Equal(e.XrpAddress, xrp.Address);
            Assert.Equal(e.CreatedAt, evm.Created);
            Assert.Equal(e.CreatedAt, xrp.Created);
            var expectedStatus = e.State == "pending" ? "active" : e.State;
            Assert.Equal(expectedStatus, evm.Status);
            Assert.Equal(expectedStatus, xrp.Status);
        }
        Assert.Equal(new Dictionary<string, int> { ["active"] = 3, ["suspended"] = 1, ["archived"] = 1 }, report.AgentsByStatus);
    }

    [Fact]
    public async Task Migrated_store_opens_with_the_1x_mnemonic_and_continues_the_index_sequence()
    {
        using var dir = new TempDir();
        var path = TestFiles.CopyFixture(dir);
        WalletMigrator.Migrate(path, "1.0", "2.0", dryRun: false);

        var noSeed = Assert.Throws<WalletStoreException>(() => WalletStore.Open(path, "pw", new WalletStoreOptions { Iterations = TestFiles.FastIterations }));
        Assert.Contains("no sealed seed", noSeed.Message);

        var otherWords = WalletSeedVault.GenerateMnemonic().ToString();
        var mismatch = Assert.Throws<WalletStoreException>(() => WalletStore.Open(path, "pw", new WalletStoreOptions { Iterations = TestFiles.FastIterations, ImportMnemonic = otherWords }));
        Assert.Contains("does not derive", mismatch.Message);

        using (var store = WalletStore.Open(path, "pw", new WalletStoreOptions { Iterations = TestFiles.FastIterations, ImportMnemonic = TestFiles.TestMnemonic }))
        {
            Assert.Equal(5, store.List().Count);
            Assert.Equal(WalletStatus.Active, store.Get("agent-bob")!.Status); // pending -> active
            Assert.Contains("archived", Assert.Throws<WalletTransitionException>(() => store.Reactivate("agent-dave")).Message);
            var fresh = await store.CreateAsync("agent-frank");
            Assert.Equal(5, fresh.DerivationIndex);
        }
        using var reopened = WalletStore.Open(path, "pw", new WalletStoreOptions { Iterations = TestFiles.FastIterations });
        Assert.Equal(6, reopened.List().Count);
    }

    [Fact]
    public void Dry_run_reports_counts_and_writes_nothing()
    {
        using var dir = new TempDir();
        var path = TestFiles.CopyFixture(dir);
        var sha = TestFiles.Sha256(path);
        var report = WalletMigrator.Migrate(path, "1.0", "2.0", dryRun: true);
        Assert.True(report.DryRun);
        Assert.Equal(5, report.Agents);
        Assert.Equal(10, report.WalletRowsWritten);
        Assert.Null(report.BackupPath);
        Assert.Contains("dry run", report.Message);
        Assert.Equal(sha, TestFiles.Sha256(path));
        Assert.Single(Directory.GetFiles(dir.Path)); // no backup, no journal
        Assert.Equal(WalletSchema.V1, WalletSchema.DetectVersion(path));
    }

    [Fact]
    public void Interrupted_migration_leaves_the_store_at_1_0_unchanged()
    {
        using var dir = new TempDir();
        var path = TestFiles.CopyFixture(dir);
        var sha = TestFiles.Sha256(path);
        var counts = LegacyCounts(path);
        var options = new WalletMigrationOptions { AfterAgentWritten = n => { if (n == 3) throw new IOException("simulated crash after 3 of 5 agents"); } };

        var e = Assert.Throws<IOException>(() => WalletMigrator.Migrate(path, "1.0", "2.0", dryRun: false, options));
        Assert.Contains("simulated crash", e.Message);

        Assert.Equal(sha, TestFiles.Sha256(path));
        Assert.Equal(counts, LegacyCounts(path));
        Assert.Equal(WalletSchema.V1, WalletSchema.DetectVersion(path));
        Assert.Equal(0, TestFiles.Count(path, "SELECT count(*) FROM sqlite_master WHERE name IN ('wallets','schema_version','vault','wallet_audit')"));

        // And a clean retry succeeds.
        var report = WalletMigrator.Migrate(path, "1.0", "2.0", dryRun: false, At("2026-03-04T05:06:08Z"));
        Assert.Equal(10, TestFiles.Count(path, "SELECT count(*) FROM wallets"));
        Assert.NotNull(report.BackupPath);
    }

    [Fact]
    public void Migrating_twice_is_a_no_op()
    {
        using var dir = new TempDir();
        var path = TestFiles.CopyFixture(dir);
        WalletMigrator.Migrate(path, "1.0", "2.0", dryRun: false);
        var sha = TestFiles.Sha256(path);
        var files = Directory.GetFiles(dir.Path).Length;
        var again = WalletMigrator.Migrate(path, "1.0", "2.0", dryRun: false);
        Assert.True(again.AlreadyAtTarget);
        Assert.Equal("already at 2.0: nothing to do", again.Message);
        Assert.Equal(0, again.WalletRowsWritten);
        Assert.Null(again.BackupPath);
        Assert.Equal(sha, TestFiles.Sha256(path));
        Assert.Equal(files, Directory.GetFiles(dir.Path).Length);
        Assert.True(WalletMigrator.Migrate(path, "1.0", "2.0", dryRun: true).AlreadyAtTarget);
    }

    [Theory]
    [InlineData("2.0", "1.0", "unsupported wallet migration 2.0 -> 1.0")]
    [InlineData("1.0", "3.0", "unknown wallet store version '3.0'")]
    [InlineData("0.9", "2.0", "unknown wallet store version '0.9'")]
    [InlineData("1.0", "1.0", "unsupported wallet migration 1.0 -> 1.0")]
    public void Unknown_version_pairs_are_refused(string from, string to, string message)
    {
        using var dir = new TempDir();
        var path = TestFiles.CopyFixture(dir);
        var sha = TestFiles.Sha256(path);
        var e = Assert.Throws<WalletMigrationException>(() => WalletMigrator.Migrate(path, from, to, dryRun: false));
        Assert.Contains(message, e.Message);
        Assert.Equal(sha, TestFiles.Sha256(path));
    }

    [Fact]
    public void Unknown_store_versions_are_refused()
    {
        using var dir = new TempDir();
        var path = TestFiles.CopyFixture(dir);
        using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "CREATE TABLE schema_version (version INTEGER); INSERT INTO schema_version VALUES (3);";
            cmd.ExecuteNonQuery();
        }
        Assert.Contains("unknown wallet store schema version 3", Assert.Throws<WalletMigrationException>(() => WalletMigrator.Migrate(path, "1.0", "2.0", false)).Message);

        var other = dir.File("other.db");
        using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={other};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "CREATE TABLE something (x INTEGER);";
            cmd.ExecuteNonQuery();
        }
        Assert.Contains("not an agent wallet store", Assert.Throws<WalletMigrationException>(() => WalletMigrator.Migrate(other, "1.0", "2.0", false)).Message);
        Assert.Contains("not found", Assert.Throws<WalletMigrationException>(() => WalletMigrator.Migrate(dir.File("missing.db"), "1.0", "2.0", false)).Message);
    }
}
