using M2M.Core.Migrations;
using M2M.Migrations;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>
/// scripts/rollback.sh and scripts/backup.sh: the bare-process mode for real (releases are this
/// executable behind wrapper scripts with the test-only schema switches), and the compose modes
/// through fake `docker` / `docker-compose` clients on PATH (no Docker engine here), which log
/// the commands they get.
/// </summary>
[Collection("data")]
[Trait("Tier", "process")]
public class DeployScriptsTests
{
    /// <summary>
    /// Issue 13, defect 4: the older release runs fine on the newer (expand-only) data, so the
    /// rollback restores nothing and the packets paid after the upgrade stay paid. The script of
    /// before always restored the pre-migration backup, and this test failed on it.
    /// </summary>
    [Fact]
    [Trait("Tier", "process")]
    public async Task Bare_rollback_keeps_packets_paid_after_the_upgrade_when_the_older_release_can_open_the_data()
    {
        using var node = new DataTestNode("script-rollback");
        string releases = WriteRelease(node, "v1.9.0", (MigrationSet.SimulateVersionVariable, "1"));
        File.WriteAllText(Path.Combine(node.Dir, ".previous-tag"), "v1.9.0\n");

        // The previous release wrote data; the new one migrated it (with its pre-migration backup) and is running.
        var p = await node.StartAsync(node.EnvWith((MigrationSet.SimulateVersionVariable, "1")));
        await node.PayAsync(10);
        await DataTestNode.StopAsync(p);
        using var current = await node.StartAsync();
        Assert.Single(Directory.GetDirectories(node.BackupsDir, "pre-migration-*"));
        Assert.Equal(5UL * 10, await node.PayAsync(5)); // paid after the upgrade
        string pidFile = Path.Combine(node.Dir, "m2m-connector.pid");
        File.WriteAllText(pidFile, current.Id.ToString());

        var env = RollbackEnv(node, releases, pidFile);
        var dry = await ScriptRunner.RunAsync("rollback.sh", node.Dir, env, "--dry-run");
        Assert.True(dry.Code == 0, dry.Stdout + dry.Stderr);
        Assert.Contains("Rolling back to: v1.9.0", dry.Stdout);
        Assert.Contains("mode: bare process (DEPLOY_MODE=bare)", dry.Stdout);
        Assert.Contains("release v1.9.0 can open the data as it is: no restore, nothing is lost", dry.Stdout);
        Assert.DoesNotContain("restore --from", dry.Stdout);

        var rollback = await ScriptRunner.RunAsync("rollback.sh", node.Dir, env);
        int started = int.Parse(File.ReadAllText(pidFile).Trim());
        string afterUpgrade;
        try
        {
            Assert.True(rollback.Code == 0, rollback.Stdout + rollback.Stderr);
            Assert.Contains("✓ healthy", rollback.Stdout);
            Assert.Equal(0, await current.WaitForExitAsync(TimeSpan.FromSeconds(5)));
            afterUpgrade = await DataTestNode.Balances(node.LedgerPath);
            Assert.NotEqual(current.Id, started);
            Assert.Equal(SqliteLedgerLatest, SqliteMigrator.ReadState(node.LedgerPath).Version); // not restored
            Assert.Equal(3UL * 10, await node.PayAsync(3)); // the older release serves
        }
        finally
        {
            await ScriptRunner.StopPidAsync(started);
        }
        Assert.Equal(15UL * 10 + 3 * 10, await DataTestNode.DebitsPosted(node.LedgerPath, "peer:alice"));
        var verify = await node.Cli(null, "ledger", "verify");
        Assert.True(verify.Code == 0, verify.Stdout + verify.Stderr);
        Assert.NotEmpty(afterUpgrade);
    }

    /// <summary>
    /// The newer release applied a contract migration: the older one cannot open the data. The
    /// script says exactly what restoring the backup discards (transfers and units after the
    /// backup point), --dry-run shows it and changes nothing, without --force it refuses, with
    /// --force it restores and starts the older release on the restored data.
    /// </summary>
    [Fact]
    [Trait("Tier", "process")]
    public async Task Bare_rollback_over_a_contract_schema_lists_the_loss_and_restores_only_with_force()
    {
        using var node = new DataTestNode("script-contract");
        int latest = SqliteLedgerLatest;
        string extra = Path.Combine(node.Dir, "future-migrations");
        Directory.CreateDirectory(Path.Combine(extra, "ledger"));
        File.WriteAllText(Path.Combine(extra, "ledger", $"{latest + 1:D4}_contract.sql"), Migration.ContractMarker + "\nCREATE TABLE future_accounts (id TEXT PRIMARY KEY);\n");
        // The release rolled back to is this executable; the running one adds a contract migration.
        string releases = WriteRelease(node, "v2.0.0");
        var future = node.EnvWith((MigrationSet.ExtraMigrationsVariable, extra));

        var p = await node.StartAsync();
        await node.PayAsync(4);
        await DataTestNode.StopAsync(p);
        string atBackup = await DataTestNode.Balances(node.LedgerPath);
        using var current = await node.StartAsync(future);
        Assert.Equal(7UL * 10, await node.PayAsync(7)); // paid after the upgrade: what a restore loses
        string pidFile = Path.Combine(node.Dir, "m2m-connector.pid");
        File.WriteAllText(pidFile, current.Id.ToString());
        // The idle connector projects its log and checkpoints the WAL on its own ~100 ms after the last payment:
        // take the hash once that has settled, so a later change can only be the dry run's.
        string sha = await SettledFilesSha256(node.LedgerPath);

        var env = RollbackEnv(node, releases, pidFile);
        env[MigrationSet.ExtraMigrationsVariable] = extra; // the running release's CLI lists the loss
        env["M2M_CONNECTOR"] = $"dotnet {ScriptRunner.Dll}";
        var dry = await ScriptRunner.RunAsync("rollback.sh", node.Dir, env, "v2.0.0", "--dry-run");
        Assert.True(dry.Code == 0, dry.Stdout + dry.Stderr);
        Assert.Contains("release v2.0.0 cannot open the data", dry.Stdout);
        Assert.Contains("Data backup to restore: ", dry.Stdout);
        // 7 payments = 7 × (2 reserves + 2 posts) ledger transfers; alice owes 70 more than in the backup.
        Assert.Contains("loss: 28 ledger transfers written after the backup of", dry.Stdout);
        Assert.Matches(@"loss: account peer:alice:USD/9: posted balance -110 now, -40 in the backup \(70 units\)", dry.Stdout);
        Assert.Contains("dry run: kill -TERM", dry.Stdout);
        Assert.False(current.HasExited);
        Assert.Equal(sha, await FilesSha256(node.LedgerPath));

        var refused = await ScriptRunner.RunAsync("rollback.sh", node.Dir, env, "v2.0.0");
        Assert.Equal(1, refused.Code);
        Assert.Contains("loss: 28 ledger transfers", refused.Stdout);
        Assert.Contains("rerun with --force", refused.Stderr);
        Assert.False(current.HasExited);

        var forced = await ScriptRunner.RunAsync("rollback.sh", node.Dir, env, "v2.0.0", "--force");
        int started = int.Parse(File.ReadAllText(pidFile).Trim());
        try
        {
            Assert.True(forced.Code == 0, forced.Stdout + forced.Stderr);
            Assert.Contains("Discarded by the restore (final, connector stopped):", forced.Stdout);
            Assert.Contains("✓ healthy", forced.Stdout);
            Assert.NotEqual(current.Id, started);
        }
        finally
        {
            await ScriptRunner.StopPidAsync(started);
        }
        Assert.Equal(atBackup, await DataTestNode.Balances(node.LedgerPath));
        Assert.Equal(latest, SqliteMigrator.ReadState(node.LedgerPath).Version);
    }

    [Fact]
    [Trait("Tier", "integration")]
    public async Task Scripts_pick_compose_v2_then_v1_then_bare_by_themselves_and_say_which()
    {
        string dir = Directory.CreateTempSubdirectory("m2m-compose-").FullName;
        File.WriteAllText(Path.Combine(dir, ".previous-tag"), "v1.1.0\n");
        File.WriteAllText(Path.Combine(dir, "docker-compose-production.yml"), "services: {}\n");
        using var health = HealthStub.Start();
        string log = Path.Combine(dir, "docker.log");
        var v2 = Shims.Create(dir, "v2", log, composeV2: true, composeV1: false);
        var v1 = Shims.Create(dir, "v1", log, composeV2: false, composeV1: true);
        var none = Shims.Create(dir, "none", log, composeV2: false, composeV1: false);
        Dictionary<string, string> Env(string path) => new()
        {
            ["PATH"] = path, ["IMAGE_NAME"] = "ghcr.io/your-org/m2m-connector", ["HEALTH_URL"] = health.Url, ["HEALTH_WAIT_SECONDS"] = "1",
            ["M2M_CONNECTOR"] = $"dotnet {ScriptRunner.Dll}",
        };

        // compose v2: the guide's commands as written, for real against the fake client.
        var rollback = await ScriptRunner.RunAsync("rollback.sh", dir, Env(v2));
        Assert.True(rollback.Code == 0, rollback.Stdout + rollback.Stderr);
        Assert.Contains("mode: compose (docker compose v2, docker-compose-production.yml)", rollback.Stdout);
        Assert.Equal(["docker compose -f docker-compose-production.yml stop connector", "docker compose -f docker-compose-production.yml up -d connector IMAGE_TAG=v1.1.0"],
            Shims.Take(log));
        var backup = await ScriptRunner.RunAsync("backup.sh", dir, Env(v2), "--full", "--verify");
        Assert.True(backup.Code == 0, backup.Stdout + backup.Stderr);
        Assert.Equal(["docker compose -f docker-compose-production.yml exec -T connector m2m-connector backup --full --verify"], Shims.Take(log));

        // compose v1 only (the host of the issue): the same steps through docker-compose.
        rollback = await ScriptRunner.RunAsync("rollback.sh", dir, Env(v1), "v1.0.3");
        Assert.True(rollback.Code == 0, rollback.Stdout + rollback.Stderr);
        Assert.Contains("mode: compose (docker-compose v1, docker-compose-production.yml)", rollback.Stdout);
        Assert.Equal(["docker-compose -f docker-compose-production.yml stop connector", "docker-compose -f docker-compose-production.yml up -d connector IMAGE_TAG=v1.0.3"],
            Shims.Take(log));
        backup = await ScriptRunner.RunAsync("backup.sh", dir, Env(v1), "--full", "--verify");
        Assert.True(backup.Code == 0, backup.Stdout + backup.Stderr);
        Assert.Equal(["docker-compose -f docker-compose-production.yml exec -T connector m2m-connector backup --full --verify"], Shims.Take(log));

        // No compose client: bare mode, said so; the backup runs the connector's CLI.
        backup = await ScriptRunner.RunAsync("backup.sh", dir, Env(none), "--full", "--verify", "--dry-run");
        Assert.True(backup.Code == 0, backup.Stdout + backup.Stderr);
        Assert.Contains("mode: bare process (no docker compose or docker-compose installed)", backup.Stdout);
        Assert.Contains($"dry run: would run: dotnet {ScriptRunner.Dll} backup --full --verify", backup.Stdout);
        Assert.Empty(Shims.Take(log));

        // Bad input: one line each.
        File.Delete(Path.Combine(dir, ".previous-tag"));
        var noTag = await ScriptRunner.RunAsync("rollback.sh", dir, Env(v2));
        Assert.Equal(2, noTag.Code);
        Assert.StartsWith("error: no TAG given", noTag.Stderr);
        var noImage = Env(v2);
        noImage.Remove("IMAGE_NAME");
        var missing = await ScriptRunner.RunAsync("rollback.sh", dir, noImage, "v1.1.0", "--dry-run");
        Assert.NotEqual(0, missing.Code);
        Assert.Contains("IMAGE_NAME", missing.Stderr);
        var noClient = Env(none);
        noClient["DEPLOY_MODE"] = "compose";
        var forced = await ScriptRunner.RunAsync("rollback.sh", dir, noClient, "v1.1.0");
        Assert.Equal(1, forced.Code);
        Assert.Equal("error: compose mode, but neither 'docker compose' (v2) nor 'docker-compose' (v1) is installed", forced.Stderr.Trim());
        Directory.Delete(dir, recursive: true);
    }

    private static Dictionary<string, string> RollbackEnv(DataTestNode node, string releases, string pidFile) =>
        node.EnvWith(("DEPLOY_MODE", "bare"), ("RELEASES_DIR", releases), ("PID_FILE", pidFile), ("DATA_DIR", Path.Combine(node.Dir, "data")),
            ("HEALTH_URL", node.HealthUrl), ("CONFIG_FILE", node.Config), ("HEALTH_WAIT_SECONDS", "1"), ("HEALTH_ATTEMPTS", "60"));

    /// <summary>releases/TAG/m2m-connector: this executable with the given environment (a release of another schema).</summary>
    private static string WriteRelease(DataTestNode node, string tag, params (string Key, string Value)[] env)
    {
        string releases = Path.Combine(node.Dir, "releases");
        Shims.WriteRelease(releases, tag, $"unset {MigrationSet.ExtraMigrationsVariable}\n" + string.Concat(env.Select(e => $"export {e.Key}={e.Value}\n")));
        return releases;
    }

    private static int SqliteLedgerLatest => M2M.Ledger.Sqlite.SqliteLedger.Migrations.Latest;

    /// <summary>
    /// SHA-256 of a file a running connector owns. The connector holds an exclusive flock on its ledger, and
    /// .NET's FileStream takes a shared flock on open, so it is refused; sha256sum reads without locking.
    /// </summary>
    private static async Task<string> LiveFileSha256(string path)
    {
        var info = new System.Diagnostics.ProcessStartInfo("sha256sum") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(path);
        var (code, stdout, stderr) = await CliProcess.RunToEndAsync(info, TimeSpan.FromSeconds(60));
        Assert.True(code == 0, stderr);
        return stdout.Split(' ', 2)[0];
    }

    /// <summary>The ledger file and its WAL, hashed together.</summary>
    private static async Task<string> FilesSha256(string path) =>
        await LiveFileSha256(path) + (File.Exists(path + "-wal") ? await LiveFileSha256(path + "-wal") : "");

    /// <summary><see cref="FilesSha256"/> once it has stayed the same for a second (at most 20 s).</summary>
    private static async Task<string> SettledFilesSha256(string path)
    {
        string last = await FilesSha256(path);
        for (int i = 0; i < 20; i++)
        {
            await Task.Delay(1000);
            string now = await FilesSha256(path);
            if (now == last) return now;
            last = now;
        }
        Assert.Fail($"{path} kept changing for 20 s while the connector was idle");
        return last;
    }
}
