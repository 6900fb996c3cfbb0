using M2M.Migrations;

namespace M2M.Cli.Tests;

/// <summary>
/// scripts/rollback.sh and scripts/backup.sh without Docker: the bare-process mode for real, and
/// the Docker Compose mode as a dry run (the commands it would run). The "previous release" is
/// this executable behind a wrapper with M2M_SIMULATE_SCHEMA_VERSION=1 (test-only).
/// </summary>
[Collection("data")]
[Trait("Tier", "process")]
public class DeployScriptsTests
{
    [Fact]
    public async Task Rollback_script_restores_the_pre_upgrade_backup_and_runs_the_previous_release()
    {
        using var node = new DataTestNode("script-rollback");
        string releases = Path.Combine(node.Dir, "releases"), previous = Path.Combine(releases, "v1.9.0");
        Directory.CreateDirectory(previous);
        string exe = Path.Combine(previous, "m2m-connector");
        File.WriteAllText(exe, $"#!/usr/bin/env bash\nexport M2M_SIMULATE_SCHEMA_VERSION=1\nexec dotnet {ScriptRunner.Dll} \"$@\"\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(exe, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.WriteAllText(Path.Combine(node.Dir, ".previous-tag"), "v1.9.0\n");

        // The previous release wrote data; the new one migrated it (with its pre-migration backup) and is running.
        var p = await node.StartAsync(node.EnvWith(("M2M_SIMULATE_SCHEMA_VERSION", "1")));
        await node.PayAsync(10);
        await DataTestNode.StopAsync(p);
        string beforeUpgrade = await DataTestNode.Balances(node.LedgerPath);
        using var current = await node.StartAsync();
        await node.PayAsync(5);
        string pidFile = Path.Combine(node.Dir, "m2m-connector.pid");
        File.WriteAllText(pidFile, current.Id.ToString());

        var env = node.EnvWith(("DEPLOY_MODE", "bare"), ("RELEASES_DIR", releases), ("PID_FILE", pidFile), ("DATA_DIR", Path.Combine(node.Dir, "data")),
            ("HEALTH_URL", node.HealthUrl), ("CONFIG_FILE", node.Config), ("HEALTH_WAIT_SECONDS", "1"));
        var dry = await ScriptRunner.RunAsync("rollback.sh", node.Dir, env, "--dry-run");
        Assert.True(dry.Code == 0, dry.Stdout + dry.Stderr);
        Assert.Contains("Rolling back to: v1.9.0", dry.Stdout);
        Assert.Contains("restore --from", dry.Stdout);
        Assert.Contains("pre-migration-", dry.Stdout);
        Assert.Equal(SqliteLedgerLatest, SqliteMigrator.ReadState(node.LedgerPath).Version);

        var rollback = await ScriptRunner.RunAsync("rollback.sh", node.Dir, env);
        int started = int.Parse(File.ReadAllText(pidFile).Trim());
        try
        {
            Assert.True(rollback.Code == 0, rollback.Stdout + rollback.Stderr);
            Assert.Contains("✓ healthy", rollback.Stdout);
            Assert.Equal(0, await current.WaitForExitAsync(TimeSpan.FromSeconds(5)));
            Assert.NotEqual(current.Id, started);
            Assert.Equal(1, SqliteMigrator.ReadState(node.LedgerPath).Version);
        }
        finally
        {
            await ScriptRunner.StopPidAsync(started);
        }
        Assert.Equal(beforeUpgrade, await DataTestNode.Balances(node.LedgerPath));
    }

    [Fact]
    public async Task Compose_mode_dry_runs_print_the_image_switch_and_bad_input_is_one_line()
    {
        string dir = Directory.CreateTempSubdirectory("m2m-compose-").FullName;
        File.WriteAllText(Path.Combine(dir, ".previous-tag"), "v1.1.0\n");
        var env = new Dictionary<string, string> { ["DEPLOY_MODE"] = "compose", ["IMAGE_NAME"] = "ghcr.io/your-org/m2m-connector" };
        var rollback = await ScriptRunner.RunAsync("rollback.sh", dir, env, "--dry-run");
        Assert.True(rollback.Code == 0, rollback.Stderr);
        Assert.Contains("dry run: docker compose -f docker-compose-production.yml stop connector", rollback.Stdout);
        Assert.Contains("IMAGE_NAME=ghcr.io/your-org/m2m-connector IMAGE_TAG=v1.1.0 docker compose -f docker-compose-production.yml up -d connector", rollback.Stdout);
        var tagged = await ScriptRunner.RunAsync("rollback.sh", dir, env, "v1.0.3", "--dry-run");
        Assert.Contains("IMAGE_TAG=v1.0.3", tagged.Stdout);
        var backup = await ScriptRunner.RunAsync("backup.sh", dir, env, "--full", "--verify", "--dry-run");
        Assert.Contains("docker compose -f docker-compose-production.yml exec -T connector m2m-connector backup --full --verify", backup.Stdout);

        File.Delete(Path.Combine(dir, ".previous-tag"));
        var noTag = await ScriptRunner.RunAsync("rollback.sh", dir, env);
        Assert.Equal(2, noTag.Code);
        Assert.StartsWith("error: no TAG given", noTag.Stderr);
        var noImage = await ScriptRunner.RunAsync("rollback.sh", dir, new Dictionary<string, string> { ["DEPLOY_MODE"] = "compose" }, "v1.1.0", "--dry-run");
        Assert.NotEqual(0, noImage.Code);
        Assert.Contains("IMAGE_NAME", noImage.Stderr);
        Directory.Delete(dir, recursive: true);
    }

    private static int SqliteLedgerLatest => M2M.Ledger.Sqlite.SqliteLedger.Migrations.Latest;
}
