using Microsoft.Data.Sqlite;

namespace M2M.Wallets.Tests;

/// <summary>1.x (better-sqlite3) stores commonly run in WAL mode; the migration must handle them too.</summary>
[Trait("Tier", "integration")]
public class WalMigrationTests
{
    private static string WalCopy(TempDir dir)
    {
        var path = TestFiles.CopyFixture(dir);
        using var c = new SqliteConnection($"Data Source={path};Pooling=False");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode=WAL;";
        Assert.Equal("wal", cmd.ExecuteScalar());
        return path;
    }

    [Fact]
    public void Migrates_a_wal_mode_store_and_the_backup_is_complete()
    {
        using var dir = new TempDir();
        var path = WalCopy(dir);
        var dry = WalletMigrator.Migrate(path, "1.0", "2.0", dryRun: true);
        Assert.Equal(5, dry.Agents);
        var report = WalletMigrator.Migrate(path, "1.0", "2.0", dryRun: false);
        Assert.Equal(10, TestFiles.Count(path, "SELECT count(*) FROM wallets"));
        Assert.Equal(5, TestFiles.Count(report.BackupPath!, "SELECT count(*) FROM agent_wallets"));
        Assert.Equal(WalletSchema.V1, WalletSchema.DetectVersion(report.BackupPath!));
    }

    [Fact]
    public void Interrupted_wal_migration_leaves_1_0()
    {
        using var dir = new TempDir();
        var path = WalCopy(dir);
        var sha = TestFiles.Sha256(path);
        var options = new WalletMigrationOptions { AfterAgentWritten = n => { if (n == 2) throw new IOException("boom"); } };
        Assert.Throws<IOException>(() => WalletMigrator.Migrate(path, "1.0", "2.0", false, options));
        Assert.Equal(sha, TestFiles.Sha256(path));
        Assert.Equal(WalletSchema.V1, WalletSchema.DetectVersion(path));
        Assert.Equal(5, TestFiles.Count(path, "SELECT count(*) FROM agent_wallets"));
    }
}
