using M2M.TestKit;

namespace M2M.Cli.Tests;

/// <summary>`config migrate`, `config validate` (YAML and .env) and the 1.x deprecation warnings, as processes.</summary>
[Trait("Tier", "process")]
public class ConfigMigrateTests
{
    private const string OldEnv = """
        # 1.x settings
        NODE_ID=edge-1
        export BTP_PORT=4000
        SETTLEMENT_METHOD="evm"   
        LOG_LEVEL=info
        BTP_URL=ws://host:${BTP_PORT}
        """;

    [Fact]
    public async Task Migrate_rewrites_an_env_file_reports_each_change_and_keeps_a_backup()
    {
        string dir = Dir();
        string env = Path.Combine(dir, ".env");
        await File.WriteAllTextAsync(env, OldEnv);

        var (code, stdout, stderr) = await CliProcess.RunAsync(null, "config", "migrate", env);

        Assert.True(code == 0, stderr);
        var changes = stdout.Split('\n').Where(l => l.StartsWith(env + ":", StringComparison.Ordinal) && char.IsAsciiDigit(l[env.Length + 1])).ToList();
        Assert.Equal(
        [
            $"{env}:3: renamed BTP_PORT to BTP_SERVER_PORT (value kept)",
            $"{env}:4: renamed SETTLEMENT_METHOD to SETTLEMENT_PREFERENCE (value kept)",
            $"{env}:6: reference ${{BTP_PORT}} now reads ${{BTP_SERVER_PORT}}",
        ], changes);
        Assert.Equal(OldEnv, await File.ReadAllTextAsync(env + ".bak"));
        Assert.Equal(OldEnv.Replace("export BTP_PORT", "export BTP_SERVER_PORT").Replace("SETTLEMENT_METHOD", "SETTLEMENT_PREFERENCE").Replace("${BTP_PORT}", "${BTP_SERVER_PORT}"),
            await File.ReadAllTextAsync(env));

        var (again, againOut, _) = await CliProcess.RunAsync(null, "config", "migrate", env);
        Assert.Equal(0, again);
        Assert.Contains("already uses the 2.0 names; nothing to change", againOut);
        Assert.False(File.Exists(env + ".bak.1"));
    }

    [Fact]
    public async Task Migrate_dry_run_writes_nothing_and_out_leaves_the_original()
    {
        string dir = Dir();
        string env = Path.Combine(dir, "prod.env");
        await File.WriteAllTextAsync(env, "BTP_PORT=4000\nBTP_SERVER_PORT=4001\n");

        var (code, stdout, _) = await CliProcess.RunAsync(null, "config", "migrate", env, "--dry-run");
        Assert.Equal(0, code);
        Assert.Contains($"{env}:1: removed BTP_PORT (BTP_SERVER_PORT is already set and wins)", stdout);
        Assert.Contains("dry run: 1 change(s)", stdout);
        Assert.Equal("BTP_PORT=4000\nBTP_SERVER_PORT=4001\n", await File.ReadAllTextAsync(env));
        Assert.False(File.Exists(env + ".bak"));

        string outFile = Path.Combine(dir, "new.env");
        (code, _, _) = await CliProcess.RunAsync(null, "config", "migrate", env, "--out", outFile);
        Assert.Equal(0, code);
        Assert.Equal("BTP_SERVER_PORT=4001\n", await File.ReadAllTextAsync(outFile));
        Assert.Equal("BTP_PORT=4000\nBTP_SERVER_PORT=4001\n", await File.ReadAllTextAsync(env));
    }

    [Fact]
    public async Task Migrate_yaml_renames_variable_references_and_preserves_every_value_and_comment()
    {
        string dir = Dir();
        string yaml = Path.Combine(dir, "config.yaml");
        const string text = "# 1.x node\nnodeId: n1\nbtpServerPort: ${BTP_PORT:-3000}   # keep me\nhealthCheckPort: 8080\npeers: []\n";
        await File.WriteAllTextAsync(yaml, text);

        var (code, stdout, _) = await CliProcess.RunAsync(null, "config", "migrate", yaml);

        Assert.Equal(0, code);
        Assert.Contains($"{yaml}:3: reference ${{BTP_PORT}} now reads ${{BTP_SERVER_PORT}}", stdout);
        Assert.Equal(text.Replace("${BTP_PORT:-3000}", "${BTP_SERVER_PORT:-3000}"), await File.ReadAllTextAsync(yaml));
        Assert.Equal(text, await File.ReadAllTextAsync(yaml + ".bak"));
        var (valid, validOut, validErr) = await CliProcess.RunAsync(new Dictionary<string, string> { ["BTP_SERVER_PORT"] = "4500" }, "config", "validate", yaml);
        Assert.True(valid == 0, validErr);
        Assert.Contains("BTP port 4500", validOut);
    }

    [Fact]
    public async Task Migrate_of_a_missing_file_is_one_error_line()
    {
        var (code, _, stderr) = await CliProcess.RunAsync(null, "config", "migrate", "/nonexistent/.env");
        Assert.Equal(1, code);
        Assert.Equal("error: config file '/nonexistent/.env' does not exist", stderr.Trim());
    }

    [Fact]
    public async Task Validate_starts_nothing_and_checks_the_tracing_keys()
    {
        string dir = Dir();
        string ledger = Path.Combine(dir, "data", "ledger.db");
        int port = CliProcess.FreePort();
        var env = new Dictionary<string, string>
        {
            ["LEDGER_PATH"] = ledger, ["HEALTH_CHECK_PORT"] = port.ToString(), ["OTEL_ENABLED"] = "true",
            ["OTEL_SAMPLING_RATIO"] = "0.25", ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://collector:4318",
        };
        var (code, stdout, stderr) = await CliProcess.RunAsync(env, "config", "validate", Path.Combine(CliProcess.RepoRoot(), "examples", "single-node.yaml"));
        Assert.True(code == 0, stderr);
        Assert.Contains("tracing on", stdout);
        Assert.False(Directory.Exists(Path.GetDirectoryName(ledger)), "validate must not create the ledger");

        env["OTEL_SAMPLING_RATIO"] = "2";
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "collector:4318";
        env["OTEL_ENABLED"] = "yes";
        (code, _, stderr) = await CliProcess.RunAsync(env, "config", "validate", Path.Combine(CliProcess.RepoRoot(), "examples", "single-node.yaml"));
        Assert.Equal(1, code);
        var errors = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, errors.Length);
        Assert.Contains(errors, e => e.StartsWith("config error: OTEL_SAMPLING_RATIO: '2' is invalid; expected a fraction", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("config error: OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' is invalid", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("config error: OTEL_ENABLED: 'yes' is invalid", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Validate_of_an_env_file_flags_names_the_connector_does_not_read()
    {
        string dir = Dir();
        string env = Path.Combine(dir, "site.env");
        await File.WriteAllTextAsync(env, "NODE_ID=site-1\nHEALTH_CHECK_PORT=9090\nHEALTHCHECK_PORT=9091\nIMAGE_TAG=v2.0.0\n");
        var (code, stdout, stderr) = await CliProcess.RunAsync(null, "config", "validate", env);
        Assert.True(code == 0, stderr);
        Assert.Contains("nodeId site-1", stdout);
        Assert.Contains("HTTP port 9090", stdout);
        Assert.Equal($"warning: {env}: HEALTHCHECK_PORT is not read by the connector (misspelt, or a variable of another program?)", stderr.Trim());
    }

    private static string Dir() => Directory.CreateTempSubdirectory("m2m-config-tests-").FullName;
}
