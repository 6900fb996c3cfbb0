using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>
/// The shipped operator files: examples/production-single-node.yaml, .env.example, the compose files
/// (docker-compose's `config` when it is installed: it needs no Docker engine), the Dockerfile, the
/// Prometheus alerts (promtool when installed) and the Grafana dashboard against a real /metrics scrape.
/// </summary>
[Trait("Tier", "process")]
public partial class PackagingTests
{
    private static string Repo(string path) => Path.Combine(CliProcess.RepoRoot(), path);

    /// <summary>Every variable CONTRACT.md names (BTP_PEER_&lt;ID&gt;_SECRET by example).</summary>
    private static readonly string[] ContractVariables =
    [
        "CONFIG_FILE", "NODE_ID", "BTP_SERVER_PORT", "HEALTH_CHECK_PORT", "SETTLEMENT_PREFERENCE", "BTP_PEER_SMOKE_TEST_SECRET", "LOG_LEVEL",
        "OTEL_ENABLED", "OTEL_SERVICE_NAME", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SAMPLING_RATIO", "ADMIN_API_TOKEN",
        "LEDGER_BACKEND", "LEDGER_PATH", "LEDGER_POSTGRES_URL", "WALLET_DB_PATH", "WALLET_PASSWORD", "ENVIRONMENT",
    ];

    [Fact]
    public async Task Production_example_passes_config_validate()
    {
        var (code, stdout, stderr) = await CliProcess.RunAsync(new Dictionary<string, string> { ["UPSTREAM_BTP_TOKEN"] = "t" },
            "config", "validate", Repo("examples/production-single-node.yaml"));
        Assert.True(code == 0, stderr);
        Assert.Contains("nodeId m2m-prod-1, address g.m2m-prod-1, BTP port 3000, HTTP port 8080, 3 peers, 1 routes", stdout);
    }

    [Fact]
    public async Task Env_example_names_every_contract_variable_and_the_loader_reads_each()
    {
        string text = await File.ReadAllTextAsync(Repo(".env.example"));
        var names = EnvName().Matches(text).Select(m => m.Groups[1].Value).ToList();
        Assert.Empty(ContractVariables.Except(names));
        Assert.Equal(names.Count, names.Distinct().Count());

        // The container paths become temp paths; the rest is validated as shipped (ENVIRONMENT=production).
        string dir = OpsScripts.TempDir();
        Directory.CreateDirectory(dir);
        string env = Path.Combine(dir, "test.env");
        await File.WriteAllTextAsync(env, text
            .Replace("CONFIG_FILE=/app/config/config.yaml", "CONFIG_FILE=" + Repo("examples/production-single-node.yaml"))
            .Replace("=/app/data/", "=" + dir + "/"));
        // As shipped, its secrets are placeholders: production refuses each one, naming it, never echoing it.
        var (refused, _, why) = await CliProcess.RunAsync(null, "config", "validate", env);
        Assert.Equal(1, refused);
        foreach (var what in new[] { "peer 'agent-fleet' secret (BTP_PEER_AGENT_FLEET_SECRET or authToken)", "peer 'smoke-test' secret (BTP_PEER_SMOKE_TEST_SECRET or authToken)", "peer 'upstream' authToken", "ADMIN_API_TOKEN", "WALLET_PASSWORD" })
            Assert.Contains($"{what}: the example's well-known placeholder secret is refused because ENVIRONMENT is production", why);
        Assert.DoesNotContain("change-me-", why);

        // With the operator's own secrets it validates.
        await File.WriteAllTextAsync(env, PlaceholderValue().Replace(await File.ReadAllTextAsync(env), _ => "=" + Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32))));
        var (code, stdout, stderr) = await CliProcess.RunAsync(null, "config", "validate", env);
        Assert.True(code == 0, stderr);
        Assert.Contains("3 peers", stdout);
        Assert.DoesNotContain("is not read by the connector", stderr);
        Assert.DoesNotContain("warning", stderr); // both child peers have their secrets
    }

    [Theory]
    [InlineData("docker-compose-production.yml", "connector", "m2m-connector", "8080", "3000")]
    [InlineData("docker-compose-blue.yml", "connector-blue", "m2m-connector-blue", "8080", "3000")]
    [InlineData("docker-compose-green.yml", "connector-green", "m2m-connector-green", "8081", "3002")]
    public void Compose_files_are_valid_and_take_the_image_tag_from_the_environment(string file, string service, string container, string http, string btp)
    {
        var root = LoadYaml(Repo(file));
        var svc = (YamlMappingNode)((YamlMappingNode)root["services"])[service];
        Assert.Equal("${IMAGE_NAME:-m2m-connector}:${IMAGE_TAG:-latest}", svc["image"].ToString());
        Assert.Equal(container, svc["container_name"].ToString());
        var ports = ((YamlSequenceNode)svc["ports"]).Select(p => p.ToString()).ToList();
        Assert.Equal([$"{http}:8080", $"{btp}:3000"], ports);
        // Host port 3001 is the Explorer's default (EXPLORER_PORT): no compose file takes it from a connector on the host.
        Assert.DoesNotContain(ports, p => p.StartsWith("3001:", StringComparison.Ordinal));
        Assert.Contains("/health", svc["healthcheck"]["test"].ToString());
        Assert.Equal("60s", svc["stop_grace_period"].ToString());
    }

    [SkippableTheory]
    [InlineData("docker-compose-production.yml")]
    [InlineData("docker-compose-blue.yml")]
    [InlineData("docker-compose-green.yml")]
    public async Task Docker_compose_config_accepts_the_file_and_the_shell_IMAGE_TAG_wins(string file)
    {
        Skip.If(Which("docker-compose") is null, "docker-compose is not installed (.ci/run installs it)");
        string dir = OpsScripts.TempDir();
        Directory.CreateDirectory(dir);
        File.Copy(Repo(file), Path.Combine(dir, file));
        File.Copy(Repo(".env.example"), Path.Combine(dir, ".env"));
        var (code, output, error) = await Run("docker-compose", dir, new() { ["IMAGE_TAG"] = "v2.0.1" }, "-f", file, "config");
        Assert.True(code == 0, error);
        Assert.Contains("image: m2m-connector:v2.0.1", output); // the shell's IMAGE_TAG wins over .env: rollbacks switch versions
    }

    [SkippableFact]
    public async Task Docker_compose_config_rejects_a_broken_file()
    {
        Skip.If(Which("docker-compose") is null, "docker-compose is not installed (.ci/run installs it)");
        string dir = OpsScripts.TempDir();
        Directory.CreateDirectory(dir);
        await File.WriteAllTextAsync(Path.Combine(dir, "bad.yml"), "services:\n  connector:\n    image: x\n    ports: 8080\n");
        var (code, _, error) = await Run("docker-compose", dir, [], "-f", "bad.yml", "config", "-q");
        Assert.NotEqual(0, code);
        Assert.Contains("ports", error);
    }

    [Fact]
    public void Dockerfile_is_multi_stage_non_root_with_a_health_check_and_copies_only_what_exists()
    {
        var lines = File.ReadAllLines(Repo("Dockerfile")).Where(l => !l.TrimStart().StartsWith('#')).ToList();
        var from = lines.Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, from.Count);
        Assert.StartsWith("FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build", from[0]);
        Assert.StartsWith("FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime", from[1]);
        int runtime = lines.IndexOf(from[1]);
        var user = Assert.Single(lines, l => l.StartsWith("USER ", StringComparison.Ordinal));
        Assert.True(lines.IndexOf(user) > runtime);
        Assert.DoesNotContain("root", user);
        Assert.Contains(lines, l => l.StartsWith("HEALTHCHECK ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("m2m-connector health --url \"http://127.0.0.1:${HEALTH_CHECK_PORT}/health\""));
        Assert.Contains("ENTRYPOINT [\"m2m-connector\"]", lines);
        Assert.Contains("EXPOSE 8080 3000", lines);
        // Each COPY source exists and is not excluded by .dockerignore.
        var ignored = File.ReadAllLines(Repo(".dockerignore")).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        foreach (var copy in lines.Where(l => l.StartsWith("COPY ", StringComparison.Ordinal) && !l.Contains("--from")))
        {
            var parts = copy.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..^1];
            foreach (var source in parts)
            {
                Assert.True(File.Exists(Repo(source)) || Directory.Exists(Repo(source)), $"COPY source {source} missing");
                Assert.DoesNotContain(source.TrimEnd('/') + "/", ignored);
            }
        }
    }

    [Fact]
    public void Alert_rules_are_valid_and_cover_the_slos()
    {
        var rules = AlertRules();
        Assert.All(rules, r =>
        {
            Assert.False(string.IsNullOrWhiteSpace(r["expr"].ToString()));
            Assert.Contains(r["labels"]["severity"].ToString(), new[] { "warning", "critical" });
            Assert.False(string.IsNullOrWhiteSpace(r["annotations"]["summary"].ToString()));
        });
        var byName = rules.ToDictionary(r => r["alert"].ToString(), r => r["expr"].ToString());
        Assert.Contains("> 0.010", byName["M2MPacketLatencyP99High"]);
        Assert.Contains("< 0.99", byName["M2MSettlementSuccessLow"]);
        Assert.Contains("ledger_fulfill_post_failed_total", byName["M2MFulfillPostFailed"]);
        Assert.Contains("connector_errors_total", byName["M2MConnectorErrors"]);
    }

    [SkippableFact]
    public async Task Promtool_accepts_every_alert_rule()
    {
        Skip.If(Which("promtool") is null, "promtool is not installed (.ci/run installs the Debian package prometheus)");
        var (code, output, error) = await Run("promtool", CliProcess.RepoRoot(), [], "check", "rules", "deploy/prometheus/alerts.yml");
        Assert.True(code == 0, output + error);
        Assert.Contains($"SUCCESS: {AlertRules().Count} rules found", output);
    }

    private static List<YamlMappingNode> AlertRules()
    {
        var root = LoadYaml(Repo("deploy/prometheus/alerts.yml"));
        return ((YamlSequenceNode)root["groups"]).SelectMany(g => (YamlSequenceNode)g["rules"]).Cast<YamlMappingNode>().ToList();
    }

    [Fact]
    public async Task Every_metric_in_the_alerts_and_the_dashboard_exists_in_a_real_scrape()
    {
        using var connector = await RunningConnector.StartAsync(null);
        string scrape = await new HttpClient().GetStringAsync(connector.BaseUrl + "/metrics");
        var declared = TypeLine().Matches(scrape).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);

        var alerts = LoadYaml(Repo("deploy/prometheus/alerts.yml"));
        var exprs = ((YamlSequenceNode)alerts["groups"]).SelectMany(g => (YamlSequenceNode)g["rules"]).Select(r => r["expr"].ToString()).ToList();
        using var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(Repo("deploy/grafana/m2m-connector-dashboard.json")));
        var panels = dashboard.RootElement.GetProperty("panels").EnumerateArray().ToList();
        Assert.True(panels.Count >= 10);
        exprs.AddRange(panels.SelectMany(p => p.GetProperty("targets").EnumerateArray()).Select(t => t.GetProperty("expr").GetString()!));

        var used = exprs.SelectMany(MetricNames).ToHashSet();
        Assert.Contains("settlements_pending", used);
        Assert.Contains("ilp_packet_latency_seconds_bucket", used);
        foreach (var name in used.Where(n => n != "up")) // `up` is Prometheus' own series
        {
            string family = HistogramSuffix().Replace(name, "");
            bool ok = declared.ContainsKey(name) || (family != name && declared.GetValueOrDefault(family) == "histogram");
            Assert.True(ok, $"metric '{name}' is used in deploy/ but not exported on /metrics");
        }
    }

    [Fact]
    public void Changelog_has_the_version_compatibility_table()
    {
        string text = File.ReadAllText(Repo("CHANGELOG.md"));
        Assert.Contains("## [2.0.0]", text);
        foreach (var row in new[] { "| Configuration", "| Data (ledger", "| Wallet schema", "| Ledger" })
            Assert.Contains(row, text);
        Assert.Contains("SETTLEMENT_METHOD", text);
        Assert.Contains("config migrate", text);
    }

    /// <summary>Identifiers of a PromQL expression that are metric names (labels, functions and keywords removed).</summary>
    private static IEnumerable<string> MetricNames(string expr)
    {
        string stripped = Grouping().Replace(Braces().Replace(expr, " "), " ");
        return Identifier().Matches(stripped).Select(m => m.Value).Where(id => !PromQlWords.Contains(id));
    }

    private static readonly HashSet<string> PromQlWords =
    [
        "sum", "rate", "irate", "increase", "histogram_quantile", "by", "without", "and", "or", "unless", "on", "ignoring",
        "group_left", "group_right", "avg", "max", "min", "count", "bool", "offset", "label_values", "instance",
    ];

    private static YamlMappingNode LoadYaml(string path)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(path);
        stream.Load(reader);
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }

    private static string? Which(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);

    private static async Task<(int, string, string)> Run(string tool, string dir, Dictionary<string, string> env, params string[] args)
    {
        var info = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment.Remove("IMAGE_TAG");
        info.Environment.Remove("IMAGE_NAME");
        foreach (var (k, v) in env) info.Environment[k] = v;
        using var p = System.Diagnostics.Process.Start(info)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, await output, await error);
    }

    [GeneratedRegex(@"^\s*([A-Z][A-Z0-9_]*)=", RegexOptions.Multiline)]
    private static partial Regex EnvName();

    [GeneratedRegex(@"^# TYPE (\S+) (\S+)", RegexOptions.Multiline)]
    private static partial Regex TypeLine();

    [GeneratedRegex(@"_(bucket|sum|count)$")]
    private static partial Regex HistogramSuffix();

    [GeneratedRegex(@"\{[^}]*\}|\[[^\]]*\]|""[^""]*""")]
    private static partial Regex Braces();

    [GeneratedRegex(@"\b(by|without|on|ignoring)\s*\([^)]*\)")]
    private static partial Regex Grouping();

    [GeneratedRegex(@"\b[a-zA-Z_][a-zA-Z0-9_]*\b")]
    private static partial Regex Identifier();

    [System.Text.RegularExpressions.GeneratedRegex(@"=change-me-[A-Za-z0-9-]*")]
    private static partial System.Text.RegularExpressions.Regex PlaceholderValue();
}
