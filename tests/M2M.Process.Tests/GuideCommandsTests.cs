using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using M2M.Core.Ilp;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>
/// The upgrade guide's commands exactly as written, against real connector processes: its metric
/// greps (and its settlements_pending wait loop), `run` with `.env` / `--env-file` at the same
/// precedence as `config validate`, `ping`/smoke test stopping after one refused login, and the
/// systemd unit's Type=notify handshake.
/// </summary>
[Collection("data")]
public partial class GuideCommandsTests
{
    [Fact]
    [Trait("Tier", "process")]
    public async Task Every_grep_of_the_guide_matches_a_metric_that_means_what_the_guide_expects()
    {
        using var node = new DataTestNode("guide-greps");
        using var p = await node.StartAsync();
        // An outage as the guide's operator would see it: bob (the next hop) is down, and one packet has no route.
        await using (var alice = await TestPeer.ConnectAsync(node.BtpPort, "alice", "alice-secret"))
        {
            Assert.IsType<IlpReject>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 10)));
            Assert.IsType<IlpReject>(await alice.SendAsync(TestPeer.Payment("g.bob.y", 10)));
            Assert.Equal(IlpErrorCode.F02_Unreachable, ((IlpReject)await alice.SendAsync(TestPeer.Payment("g.nowhere.z", 10))).Code);
        }
        string metrics = $"http://127.0.0.1:{node.HttpPort}/metrics";

        // watch -n 10 'curl -s http://localhost:8080/metrics | grep error_total'
        var errors = await Bash($"curl -s {metrics} | grep error_total");
        var byCode = ErrorLine().Matches(errors.Stdout).ToDictionary(m => m.Groups[1].Value, m => int.Parse(m.Groups[2].Value));
        Assert.True(byCode.Values.Sum() == 3, errors.Stdout);
        Assert.Equal(1, byCode[IlpErrorCode.F02_Unreachable]);

        // watch -n 5 'curl -s http://localhost:8080/metrics | grep ilp_packets_processed'
        var processed = await Bash($"curl -s {metrics} | grep ilp_packets_processed");
        // One line per reject code; together they are the 3 rejects, as in ilp_packet_error_total.
        var rejected = RejectedLine().Matches(processed.Stdout).ToDictionary(m => m.Groups[1].Value, m => int.Parse(m.Groups[2].Value));
        Assert.True(rejected.Values.Sum() == 3, processed.Stdout);
        Assert.Equal(byCode, rejected);

        // watch -n 30 'curl -s http://localhost:8080/metrics | grep settlement'
        var settlement = await Bash($"curl -s {metrics} | grep settlement");
        Assert.Contains("settlements_pending 0", settlement.Stdout);

        // The pre-migration wait loop, verbatim: it must read one number (with # HELP/# TYPE lines it read "HELP TYPE 0" and `[` failed).
        var loop = await Bash($$"""
            while [ $(curl -s {{metrics}} | grep 'settlements_pending' | awk '{print $2}') -gt 0 ]; do
              echo "Waiting for pending settlements..."
              sleep 5
            done
            [ $(curl -s {{metrics}} | grep 'settlements_pending' | awk '{print $2}') -eq 0 ] && echo "no settlement pending"
            """);
        Assert.True(loop.Stderr.Length == 0, loop.Stderr);
        Assert.Equal("no settlement pending", loop.Stdout.Trim());

        // Prometheus (which names its media types) still gets the full format with # TYPE lines.
        var prometheus = await Bash($"curl -s -H 'Accept: text/plain; version=0.0.4' {metrics} | grep '^# TYPE ilp_packet_error_total'");
        Assert.Equal("# TYPE ilp_packet_error_total counter", prometheus.Stdout.Trim());
    }

    [Fact]
    [Trait("Tier", "process")]
    public async Task Run_reads_dotenv_and_env_file_with_the_same_precedence_as_config_validate()
    {
        string dir = Directory.CreateTempSubdirectory("m2m-dotenv-").FullName;
        int http = CliProcess.FreePort(), btp = CliProcess.FreePort();
        await File.WriteAllTextAsync(Path.Combine(dir, ".env"), $"""
            # as the 1.x .env
            NODE_ID=from-dotenv
            export HEALTH_CHECK_PORT={http}
            BTP_SERVER_PORT="{btp}"
            LOG_LEVEL=debug
            """);
        // The environment wins over the file (dotenv, as 1.x): NODE_ID comes from it.
        var env = new Dictionary<string, string> { ["NODE_ID"] = "from-env", ["BIND_ADDRESS"] = "127.0.0.1" };

        var validate = await RunIn(dir, env, "config", "validate", ".env");
        Assert.True(validate.Code == 0, validate.Stderr);
        Assert.Contains($"nodeId from-env, address g.from-env, BTP port {btp}, HTTP port {http}", validate.Stdout);
        Assert.Contains("note: env file .env: 4 variables; set in the environment, which wins: NODE_ID", validate.Stdout);

        using (var run = CliProcess.StartIn(dir, env, "run"))
        {
            await CliProcess.WaitForHealth($"http://127.0.0.1:{http}/health", run);
            using var health = JsonDocument.Parse(await new HttpClient().GetStringAsync($"http://127.0.0.1:{http}/health"));
            Assert.Equal("from-env", health.RootElement.GetProperty("nodeId").GetString());
            Assert.Contains("env file .env: 4 variables; set in the environment, which wins: NODE_ID", run.Stdout);
            await DataTestNode.StopAsync(run);
        }

        // --env-file from another directory: the same values; a missing file is one line and exit 1.
        string other = Path.Combine(dir, "site.env");
        File.Move(Path.Combine(dir, ".env"), other);
        var elsewhere = await RunIn(Path.GetTempPath(), env, "config", "validate", Path.Combine(RepoPaths.Root, "examples", "single-node.yaml"), "--env-file", other);
        Assert.True(elsewhere.Code == 0, elsewhere.Stderr);
        Assert.Contains("nodeId from-env,", elsewhere.Stdout);
        Assert.Contains($"BTP port {btp}, HTTP port {http}", elsewhere.Stdout);
        using (var run = CliProcess.StartIn(Path.GetTempPath(), env, "run", "--env-file", other))
        {
            await CliProcess.WaitForHealth($"http://127.0.0.1:{http}/health", run);
            await DataTestNode.StopAsync(run);
        }
        var missing = await RunIn(dir, env, "run", "--env-file", Path.Combine(dir, "nope.env"));
        Assert.Equal(1, missing.Code);
        Assert.Equal($"config error: env file '{Path.Combine(dir, "nope.env")}' does not exist", missing.Stderr.Trim());
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    [Trait("Tier", "process")]
    public async Task Ping_and_the_smoke_test_stop_after_one_refused_login_and_say_so()
    {
        string dir = OpsScripts.TempDir();
        using var connector = await RunningConnector.StartAsync(OpsScripts.SmokeConfig(dir), new Dictionary<string, string> { ["BTP_PEER_SMOKE_TEST_SECRET"] = "the-right-secret" });
        var started = Stopwatch.StartNew();
        var (code, _, stderr) = await CliProcess.RunAsync(new Dictionary<string, string> { ["SMOKE_PEER_SECRET"] = "a-mistyped-secret" },
            "ping", "--url", $"ws://127.0.0.1:{connector.BtpPort}", "--peer", "smoke-test", "--timeout", "20");
        Assert.Equal(4, code);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(15), $"ping took {started.Elapsed} (it waited for its timeout instead of stopping)");
        Assert.Contains("refused the credentials of peer 'smoke-test'", stderr);
        Assert.Contains("stopped after one attempt so the peer is not locked out", stderr);

        var (smokeCode, _, smokeErr) = await OpsScripts.RunAsync("scripts/smoke-test.sh",
            new Dictionary<string, string> { ["SMOKE_PEER_SECRET"] = "a-mistyped-secret", ["M2M_CONNECTOR"] = OpsScripts.CliCommand },
            "--host", "127.0.0.1", "--port", connector.HttpPort.ToString(), "--btp-port", connector.BtpPort.ToString(), "--timeout", "20");
        Assert.Equal(1, smokeCode);
        Assert.Contains("✗ packet: authentication as peer 'smoke-test' refused; stopped after one attempt (not retried, so the peer is not locked out)", smokeErr);

        // Exactly two refused logins reached the connector (one per command), none retried; and the peer is not locked out.
        // Both commands have exited, so every login they made is in; only the connector's log lines may still be on
        // their way (the console logger writes from its own queue), so wait for them rather than a fixed 1.5 s.
        int Refused() => Regex.Matches(connector.Process.Stdout, "BTP auth rejected from").Count;
        await Eventually.Until(() => Refused() >= 2, "the connector logs both refused logins");
        Assert.Equal(2, Refused());
        var good = await CliProcess.RunAsync(new Dictionary<string, string> { ["SMOKE_PEER_SECRET"] = "the-right-secret" },
            "ping", "--url", $"ws://127.0.0.1:{connector.BtpPort}", "--peer", "smoke-test", "--timeout", "20");
        Assert.True(good.Code == 0, good.Stderr);
    }

    [Fact]
    [Trait("Tier", "process")]
    public async Task Run_tells_systemd_ready_once_it_serves_and_stopping_when_it_drains()
    {
        string dir = Directory.CreateTempSubdirectory("m2m-notify-").FullName;
        string socketPath = Path.Combine(dir, "notify.sock");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(socketPath));
        int http = CliProcess.FreePort();
        using var p = CliProcess.Start(new Dictionary<string, string>
        {
            ["NOTIFY_SOCKET"] = socketPath, ["HEALTH_CHECK_PORT"] = http.ToString(), ["BTP_SERVER_PORT"] = CliProcess.FreePort().ToString(), ["BIND_ADDRESS"] = "127.0.0.1",
        }, "run");

        string ready = await Receive(socket, TimeSpan.FromSeconds(60));
        Assert.StartsWith("READY=1\n", ready);
        Assert.Contains($"MAINPID={p.Id}", ready);
        // READY means serving: /health/ready answers at once.
        using (var response = await new HttpClient().GetAsync($"http://127.0.0.1:{http}/health/ready"))
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);

        p.Signal(CliProcess.SIGTERM);
        Assert.StartsWith("STOPPING=1", await Receive(socket, TimeSpan.FromSeconds(30)));
        Assert.Equal(0, await p.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    [Trait("Tier", "unit")]
    public void The_systemd_unit_example_runs_the_connector_as_type_notify_with_a_stop_timeout_longer_than_the_drain()
    {
        string unit = File.ReadAllText(Path.Combine(RepoPaths.Root, "deploy", "systemd", "m2m-connector.service"));
        Assert.Contains("\nType=notify\n", unit);
        Assert.Matches(@"\nExecStart=\S+/m2m-connector run --config \S+ --env-file \S+\n", unit);
        int stop = int.Parse(Regex.Match(unit, @"\nTimeoutStopSec=(\d+)\n").Groups[1].Value);
        Assert.True(stop > 35, "TimeoutStopSec must exceed limits.drainTimeoutMs (35 s)");
    }

    private static async Task<string> Receive(Socket socket, TimeSpan timeout)
    {
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(timeout);
        int n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunIn(string dir, IDictionary<string, string> env, params string[] args)
    {
        using var p = CliProcess.StartIn(dir, env, args);
        int code = await p.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return (code, p.Stdout, p.Stderr);
    }

    private static Task<(int Code, string Stdout, string Stderr)> Bash(string script)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(script);
        return CliProcess.RunToEndAsync(info, TimeSpan.FromSeconds(60));
    }

    [GeneratedRegex(@"^ilp_packet_error_total\{code=""([A-Z]\d\d|other)""\} (\d+)$", RegexOptions.Multiline)]
    private static partial Regex ErrorLine();

    [GeneratedRegex(@"^ilp_packets_processed_total\{type=""prepare"",status=""rejected"",code=""([A-Z]\d\d|other)""\} (\d+)$", RegexOptions.Multiline)]
    private static partial Regex RejectedLine();
}
