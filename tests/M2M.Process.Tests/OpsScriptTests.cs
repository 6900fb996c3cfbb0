using System.Text.Json;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>scripts/smoke-test.sh, scripts/upgrade.sh (bare-process mode) and `m2m-connector ping` against real connector processes.</summary>
[Trait("Tier", "process")]
public class OpsScriptTests
{
    private const string Secret = "smoke-secret-7f3a";

    [Fact]
    public async Task Smoke_test_passes_against_a_running_connector_including_a_real_packet()
    {
        string dir = OpsScripts.TempDir();
        using var connector = await RunningConnector.StartAsync(OpsScripts.SmokeConfig(dir), new Dictionary<string, string> { ["BTP_PEER_SMOKE_TEST_SECRET"] = Secret });
        var env = new Dictionary<string, string> { ["SMOKE_PEER_SECRET"] = Secret, ["M2M_CONNECTOR"] = OpsScripts.CliCommand };

        var (code, stdout, stderr) = await OpsScripts.RunAsync("scripts/smoke-test.sh", env,
            "--host", "127.0.0.1", "--port", connector.HttpPort.ToString(), "--btp-port", connector.BtpPort.ToString(), "--require-packet");

        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("✓ health: degraded", stdout); // the smoke-test peer is configured but was not connected at that moment
        Assert.Contains("✓ metrics: all expected series present", stdout);
        Assert.Matches(@"✓ packet: ping: fulfilled in [\d.]+ ms by 127\.0\.0\.1:\d+: address test\.smoke-node\.smoke-test, asset USD/9", stdout);
        Assert.Contains("✓ smoke test passed", stdout);
        // The packet really went through the switch: counted in /metrics? ILDCP is answered before the ledger, so it is a fulfilled Prepare.
        string metrics = await new HttpClient().GetStringAsync(connector.BaseUrl + "/metrics");
        Assert.Contains("ilp_packets_processed_total{type=\"prepare\",status=\"fulfilled\",code=\"\"} 1", metrics);
    }

    [Fact]
    public async Task Smoke_test_fails_with_a_clear_message_against_a_stopped_connector()
    {
        int port = CliProcess.FreePort(); // nothing listens there
        var (code, _, stderr) = await OpsScripts.RunAsync("scripts/smoke-test.sh", null, "--host", "127.0.0.1", "--port", port.ToString());
        Assert.Equal(1, code);
        Assert.Contains($"/health: no answer (is the connector running on 127.0.0.1:{port}?)", stderr);
    }

    [Fact]
    public async Task Smoke_test_fails_when_the_packet_is_refused_and_skips_it_without_a_secret()
    {
        string dir = OpsScripts.TempDir();
        using var connector = await RunningConnector.StartAsync(OpsScripts.SmokeConfig(dir), new Dictionary<string, string> { ["BTP_PEER_SMOKE_TEST_SECRET"] = Secret });
        // 10 s for the refusal to come back: 3 s was missed beside other process tests at load ≈ 60.
        string[] args = ["--host", "127.0.0.1", "--port", connector.HttpPort.ToString(), "--btp-port", connector.BtpPort.ToString(), "--timeout", "10"];

        var wrong = new Dictionary<string, string> { ["SMOKE_PEER_SECRET"] = "not-the-secret", ["M2M_CONNECTOR"] = OpsScripts.CliCommand };
        var (code, _, stderr) = await OpsScripts.RunAsync("scripts/smoke-test.sh", wrong, args);
        Assert.Equal(1, code);
        Assert.Contains("✗ packet: authentication as peer 'smoke-test' refused; stopped after one attempt", stderr);
        Assert.Contains("smoke test FAILED", stderr);

        var (skipCode, skipOut, _) = await OpsScripts.RunAsync("scripts/smoke-test.sh", null, args);
        Assert.Equal(0, skipCode);
        Assert.Contains("- packet: SKIPPED (set SMOKE_PEER_SECRET or BTP_PEER_SMOKE_TEST_SECRET", skipOut);
    }

    [Fact]
    public async Task Ping_reports_a_reject_for_a_non_child_peer_with_exit_3()
    {
        string dir = OpsScripts.TempDir();
        Directory.CreateDirectory(dir);
        string config = Path.Combine(dir, "peer.yaml");
        await File.WriteAllTextAsync(config, "nodeId: n1\npeers:\n  - id: bob\n    relation: peer\n");
        using var connector = await RunningConnector.StartAsync(config, new Dictionary<string, string> { ["BTP_PEER_BOB_SECRET"] = Secret });
        var (code, _, stderr) = await CliProcess.RunAsync(new Dictionary<string, string> { ["BTP_PEER_BOB_SECRET"] = Secret },
            "ping", "--url", $"ws://127.0.0.1:{connector.BtpPort}", "--peer", "bob");
        Assert.Equal(3, code);
        Assert.Contains("ping: rejected F00 by 'g.n1': peer.config is answered for child peers only", stderr);
    }

    [Fact]
    public async Task Upgrade_script_in_process_mode_drains_the_old_process_starts_the_new_one_and_waits_for_health()
    {
        string dir = OpsScripts.TempDir();
        string config = OpsScripts.SmokeConfig(dir);
        string ledger = Path.Combine(dir, "ledger.db");
        var extra = new Dictionary<string, string> { ["LEDGER_PATH"] = ledger };
        using var old = await RunningConnector.StartAsync(config, extra);
        string pidFile = Path.Combine(dir, "connector.pid");
        await File.WriteAllTextAsync(pidFile, old.Process.Id.ToString());
        var env = RunningConnector.Env(old.BtpPort, old.HttpPort, extra);
        string health = old.BaseUrl + "/health";
        int? newPid = null;
        try
        {
            var (code, stdout, stderr) = await OpsScripts.RunAsync("scripts/upgrade.sh", env, "--mode", "process", "--dir", dir, "--pid-file", pidFile,
                "--start", $"{OpsScripts.CliCommand} run --config {config}", "--url", health, "--attempts", "40", "--interval", "1", "--log", Path.Combine(dir, "new.log"));
            newPid = int.Parse(await File.ReadAllTextAsync(pidFile));

            Assert.True(code == 0, stdout + stderr);
            Assert.Equal(0, await old.Process.WaitForExitAsync(TimeSpan.FromSeconds(5))); // drained and exited 0
            Assert.Contains("Drained: 0 packets in flight, 0 settlements pending", old.Process.Stdout);
            Assert.NotEqual(old.Process.Id, newPid);
            Assert.Contains("✓ Upgrade successful! 2.", stdout);
            Assert.Matches(@"^\d+\.\d+\.\d+", (await File.ReadAllTextAsync(Path.Combine(dir, ".previous-tag"))).Trim());
            using var doc = JsonDocument.Parse(await new HttpClient().GetStringAsync(health));
            Assert.Equal("degraded", doc.RootElement.GetProperty("status").GetString()); // up, its child peer not connected
        }
        finally
        {
            if (newPid is { } pid) KillIfRunning(pid);
        }
    }

    [Fact]
    public async Task Upgrade_script_reports_failure_when_the_new_version_does_not_come_up()
    {
        string dir = OpsScripts.TempDir();
        Directory.CreateDirectory(dir);
        string pidFile = Path.Combine(dir, "connector.pid");
        int port = CliProcess.FreePort();
        var env = new Dictionary<string, string> { ["HEALTH_CHECK_PORT"] = "not-a-port" }; // the new process refuses its config and exits 1
        var (code, _, stderr) = await OpsScripts.RunAsync("scripts/upgrade.sh", env, "--mode", "process", "--dir", dir, "--pid-file", pidFile,
            "--start", $"{OpsScripts.CliCommand} run", "--url", $"http://127.0.0.1:{port}/health", "--attempts", "30", "--interval", "1", "--log", Path.Combine(dir, "new.log"));
        Assert.Equal(1, code);
        Assert.Contains("✗ the new connector exited", stderr);
        Assert.Contains("HEALTH_CHECK_PORT", stderr);
        Assert.Contains("✗ Health check failed - consider rollback", stderr);
    }

    private static void KillIfRunning(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            p.Kill(entireProcessTree: true);
        }
        catch (ArgumentException)
        {
            // already gone
        }
    }
}
