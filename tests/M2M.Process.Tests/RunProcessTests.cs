using System.Text.Json;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>`m2m-connector run` as a server process: it serves, logs as configured, and stops on SIGTERM.</summary>
[Trait("Tier", "process")]
public class RunProcessTests
{
    [Fact]
    public async Task Run_serves_health_then_stops_gracefully_on_SIGTERM_with_json_logs()
    {
        int btp = CliProcess.FreePort(), http = CliProcess.FreePort();
        var env = new Dictionary<string, string>
        {
            ["BTP_SERVER_PORT"] = btp.ToString(),
            ["HEALTH_CHECK_PORT"] = http.ToString(),
            ["BIND_ADDRESS"] = "127.0.0.1",
            ["NODE_ID"] = "cli-test",
        };
        using var connector = CliProcess.Start(env, "run", "--log-format", "json");
        string url = $"http://127.0.0.1:{http}/health";
        await CliProcess.WaitForHealth(url, connector);

        var (healthCode, healthOut, _) = await CliProcess.RunAsync(null, "health", "--url", url);
        Assert.Equal(0, healthCode);
        Assert.Equal("healthy", JsonDocument.Parse(healthOut).RootElement.GetProperty("status").GetString());

        connector.Signal(CliProcess.SIGTERM);
        Assert.Equal(0, await connector.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        var logLines = connector.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(logLines, l => JsonDocument.Parse(l));
        Assert.Contains(logLines, l => l.Contains("\"EventId\":1001") && l.Contains("cli-test"));
        Assert.Contains(logLines, l => l.Contains("\"EventId\":1004"));

        var (downCode, _, downErr) = await CliProcess.RunAsync(null, "health", "--url", url);
        Assert.Equal(1, downCode);
        Assert.Contains("unhealthy", downErr);
    }

    [Fact]
    public async Task Run_logs_one_deprecation_warning_per_1x_name_used()
    {
        int btp = CliProcess.FreePort(), http = CliProcess.FreePort();
        var env = new Dictionary<string, string>
        {
            ["BTP_PORT"] = btp.ToString(), ["HEALTH_CHECK_PORT"] = http.ToString(), ["BIND_ADDRESS"] = "127.0.0.1", ["SETTLEMENT_METHOD"] = "none",
        };
        using var connector = CliProcess.Start(env, "run");
        await CliProcess.WaitForHealth($"http://127.0.0.1:{http}/health", connector);
        connector.Signal(CliProcess.SIGTERM);
        Assert.Equal(0, await connector.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        var lines = connector.Stdout.Split('\n');
        Assert.Single(lines, l => l.Contains("BTP_PORT is deprecated since 2.0; use BTP_SERVER_PORT"));
        Assert.Single(lines, l => l.Contains("SETTLEMENT_METHOD is deprecated since 2.0; use SETTLEMENT_PREFERENCE"));
        Assert.Contains($"BTP port {btp}", connector.Stdout); // the old name still took effect
    }
}
