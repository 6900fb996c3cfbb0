using System.Diagnostics;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>A connector process on free loopback ports, plus the repo's shell scripts run as processes.</summary>
internal sealed class RunningConnector : IDisposable
{
    private RunningConnector(CliProcess process, int btpPort, int httpPort)
    {
        Process = process;
        BtpPort = btpPort;
        HttpPort = httpPort;
    }

    public CliProcess Process { get; }
    public int BtpPort { get; }
    public int HttpPort { get; }
    public string BaseUrl => $"http://127.0.0.1:{HttpPort}";

    public static Dictionary<string, string> Env(int btpPort, int httpPort, IDictionary<string, string>? extra = null)
    {
        var env = new Dictionary<string, string>
        {
            ["BTP_SERVER_PORT"] = btpPort.ToString(),
            ["HEALTH_CHECK_PORT"] = httpPort.ToString(),
            ["BIND_ADDRESS"] = "127.0.0.1",
            ["ADMIN_API_TOKEN"] = OpsScripts.AdminToken,
        };
        if (extra is not null) foreach (var (k, v) in extra) env[k] = v;
        return env;
    }

    public static async Task<RunningConnector> StartAsync(string? config, IDictionary<string, string>? extra = null)
    {
        int btp = CliProcess.FreePort(), http = CliProcess.FreePort();
        var args = config is null ? new[] { "run" } : ["run", "--config", config];
        var process = CliProcess.Start(Env(btp, http, extra), args);
        var running = new RunningConnector(process, btp, http);
        await WaitForLive(running);
        return running;
    }

    /// <summary>Until /health/live answers (60 s: the machine may be busy), failing early if the process exited.</summary>
    private static async Task WaitForLive(RunningConnector running)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await http.GetAsync(running.BaseUrl + "/health/live");
                if (response.IsSuccessStatusCode) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // not listening yet
            }
            Assert.False(running.Process.HasExited, $"the connector exited: {running.Process.Stderr}{running.Process.Stdout}");
            await Task.Delay(100);
        }
        Assert.Fail($"the connector did not answer within 60 s: {running.Process.Stdout}");
    }

    public void Dispose() => Process.Dispose();
}

internal static class OpsScripts
{
    public const string AdminToken = "ops-test-admin-token";

    /// <summary>How the scripts run the CLI under test (what M2M_CONNECTOR is for).</summary>
    public static string CliCommand => $"dotnet {Path.Combine(AppContext.BaseDirectory, "m2m-connector.dll")}";

    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string script, IDictionary<string, string>? env, params string[] args)
    {
        var info = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        info.ArgumentList.Add(Path.Combine(CliProcess.RepoRoot(), script));
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var name in new[] { "SMOKE_PEER_ID", "SMOKE_PEER_SECRET", "SMOKE_BTP_PORT", "M2M_CONNECTOR", "HEALTH_CHECK_PORT", "BTP_SERVER_PORT" })
            info.Environment.Remove(name);
        if (env is not null) foreach (var (k, v) in env) info.Environment[k] = v;
        return await CliProcess.RunToEndAsync(info, TimeSpan.FromSeconds(120));
    }

    /// <summary>A config with one child peer "smoke-test" whose secret the test knows.</summary>
    public static string SmokeConfig(string dir)
    {
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, "smoke.yaml");
        File.WriteAllText(path, """
            nodeId: smoke-node
            ilpAddress: test.smoke-node
            peers:
              - id: smoke-test
                relation: child
                asset: { code: USD, scale: 9 }
            """);
        return path;
    }

    public static string TempDir() => Path.Combine(Path.GetTempPath(), "m2m-ops-tests", Guid.NewGuid().ToString("N"));
}
