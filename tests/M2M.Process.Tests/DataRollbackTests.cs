using M2M.Core.Migrations;
using M2M.Migrations;
using M2M.Ledger.Sqlite;
using Xunit.Abstractions;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>
/// R20 and R21 with real processes and files. Release "N-1" is this binary with
/// M2M_SIMULATE_SCHEMA_VERSION=1 (it knows ledger migrations up to 1); release "N+1" is this binary
/// with M2M_TEST_EXTRA_MIGRATIONS adding a contract migration. Both are test-only switches.
/// </summary>
[Collection("data")]
[Trait("Tier", "process")]
public class DataRollbackTests(ITestOutputHelper output)
{
    private static int Latest => SqliteLedger.Migrations.Latest;

    [Fact]
    public async Task Upgrade_backs_up_first_older_binary_refuses_contract_schema_and_restore_brings_it_back()
    {
        using var node = new DataTestNode("rollback");
        var older = node.EnvWith((MigrationSet.SimulateVersionVariable, "1"));

        // 1. The older release writes data (ledger schema 1).
        var p = await node.StartAsync(older);
        ulong paid = await node.PayAsync(20);
        await DataTestNode.StopAsync(p);
        Assert.Equal(1, SqliteMigrator.ReadState(node.LedgerPath).Version);

        // 2. This release migrates 1 -> Latest after a verified backup, and keeps the balances.
        string before = await DataTestNode.Balances(node.LedgerPath);
        p = await node.StartAsync();
        Assert.Contains("pre-migration backup verified", p.Stdout);
        Assert.Equal(before, await DataTestNode.Balances(node.LedgerPath));
        paid += await node.PayAsync(5);
        await DataTestNode.StopAsync(p);
        Assert.Equal(Latest, SqliteMigrator.ReadState(node.LedgerPath).Version);

        // 3. R20(a): the older release still runs on the newer expand-only schema, and its numbers are exact.
        string atLatest = await DataTestNode.Balances(node.LedgerPath);
        p = await node.StartAsync(older);
        Assert.Equal(atLatest, await DataTestNode.Balances(node.LedgerPath));
        await DataTestNode.StopAsync(p);

        // 4. A future release applies a contract migration (after its own backup).
        string extra = Path.Combine(node.Dir, "future-migrations");
        Directory.CreateDirectory(Path.Combine(extra, "ledger"));
        File.WriteAllText(Path.Combine(extra, "ledger", $"{Latest + 1:D4}_contract.sql"), Migration.ContractMarker + "\nCREATE TABLE future_accounts (id TEXT PRIMARY KEY);\n");
        var future = node.EnvWith((MigrationSet.ExtraMigrationsVariable, extra));
        p = await node.StartAsync(future);
        paid += await node.PayAsync(5);
        await DataTestNode.StopAsync(p);
        Assert.Equal((Latest + 1, Latest + 1), (SqliteMigrator.ReadState(node.LedgerPath).Version, SqliteMigrator.ReadState(node.LedgerPath).MinCompatible));

        // 5. R20(b): rolling back to this release is refused fast, names both versions and the restore command, writes 0 bytes.
        //    "Within 5 s" is the refusal's own time: the wall time of the refused start minus that of a trivial
        //    command of the same executable just before (`version`: .NET start-up and exit, several seconds
        //    by themselves at load 30+), so what counts is everything the refusing start does (config, the
        //    data gate's read-only check, the message), not how long the machine takes to start a process.
        string sha = M2M.Migrations.SqliteFiles.Sha256(node.LedgerPath);
        var startup = System.Diagnostics.Stopwatch.StartNew();
        var version = await CliProcess.RunAsync(node.Env, "version");
        startup.Stop();
        Assert.Equal(0, version.Code);
        var refusal = System.Diagnostics.Stopwatch.StartNew();
        using (var refused = CliProcess.Start(node.Env, "run", "--config", node.Config))
        {
            int code = await refused.WaitForExitAsync(TimeSpan.FromSeconds(60));
            refusal.Stop();
            output.WriteLine(refused.Stderr);
            output.WriteLine($"refused in {refusal.Elapsed.TotalSeconds:F2} s; `version` took {startup.Elapsed.TotalSeconds:F2} s");
            Assert.NotEqual(0, code);
            Assert.True(refusal.Elapsed - startup.Elapsed < TimeSpan.FromSeconds(5),
                $"the refusal took {refusal.Elapsed.TotalSeconds:F2} s, {(refusal.Elapsed - startup.Elapsed).TotalSeconds:F2} s more than `version` ({startup.Elapsed.TotalSeconds:F2} s)");
            Assert.Contains($"schema version {Latest + 1}", refused.Stderr);
            Assert.Contains($"up to {Latest}", refused.Stderr);
            Assert.Contains("m2m-connector restore --from", refused.Stderr);
            Assert.Single(refused.Stderr.Trim().Split('\n'));
        }
        Assert.Equal(sha, M2M.Migrations.SqliteFiles.Sha256(node.LedgerPath));

        // 6. R20(c): restore the backup the future release made before migrating, then this release runs and verifies.
        string backup = Directory.GetDirectories(node.BackupsDir).OrderBy(d => d).Last();
        var dry = await node.Cli(null, "restore", "--from", backup, "--dry-run");
        Assert.Equal(0, dry.Code);
        Assert.Equal(sha, M2M.Migrations.SqliteFiles.Sha256(node.LedgerPath));
        var noForce = await node.Cli(null, "restore", "--from", backup);
        Assert.Equal(1, noForce.Code);
        Assert.Contains("--force", noForce.Stderr);
        var restore = await node.Cli(null, "restore", "--from", backup, "--force");
        Assert.True(restore.Code == 0, restore.Stdout + restore.Stderr);
        Assert.Equal(atLatest, await DataTestNode.Balances(node.LedgerPath));
        var verify = await node.Cli(null, "ledger", "verify");
        Assert.True(verify.Code == 0, verify.Stdout + verify.Stderr);
        p = await node.StartAsync();
        await DataTestNode.StopAsync(p);
        Assert.Equal(Latest, SqliteMigrator.ReadState(node.LedgerPath).Version);
        Assert.True(paid > 0);
    }

    [Fact]
    public async Task Edited_or_deleted_applied_migration_refuses_to_start_and_restore_refuses_while_running()
    {
        using var node = new DataTestNode("integrity");
        string extra = Path.Combine(node.Dir, "extra");
        Directory.CreateDirectory(Path.Combine(extra, "ledger"));
        string m1 = Path.Combine(extra, "ledger", $"{Latest + 1:D4}_one.sql"), m2 = Path.Combine(extra, "ledger", $"{Latest + 2:D4}_two.sql");
        File.WriteAllText(m1, "CREATE TABLE one (x);\n");
        File.WriteAllText(m2, "CREATE TABLE two (x);\n");
        var env = node.EnvWith((MigrationSet.ExtraMigrationsVariable, extra));
        var p = await node.StartAsync(env);

        // While it runs: restore is refused (lock file), backup works online.
        var backup = await node.Cli(env, "backup", "--full", "--out", Path.Combine(node.Dir, "bk"));
        Assert.True(backup.Code == 0, backup.Stderr);
        var restore = await node.Cli(env, "restore", "--from", Path.Combine(node.Dir, "bk"), "--force");
        Assert.Equal(1, restore.Code);
        Assert.Contains("connector is running", restore.Stderr);
        await DataTestNode.StopAsync(p);

        // Applying twice is a no-op: same schema, and no pre-migration backup (a new install has none to protect).
        p = await node.StartAsync(env);
        await DataTestNode.StopAsync(p);
        Assert.False(Directory.Exists(node.BackupsDir));
        Assert.Equal(Latest + 2, SqliteMigrator.ReadState(node.LedgerPath).Version);

        string sha = M2M.Migrations.SqliteFiles.Sha256(node.LedgerPath);
        File.WriteAllText(m1, "CREATE TABLE one (x, y);\n");
        var edited = await node.Cli(env, "run");
        Assert.NotEqual(0, edited.Code);
        Assert.Contains("edited", edited.Stderr);

        File.Delete(m1);
        var deleted = await node.Cli(env, "run");
        Assert.NotEqual(0, deleted.Code);
        Assert.Contains("deleted", deleted.Stderr);
        Assert.Equal(sha, M2M.Migrations.SqliteFiles.Sha256(node.LedgerPath));
    }
}
