using System.Diagnostics;
using System.Text.Json;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>
/// A tiny smoke of bench/M2M.LoadGen through the real connector process (the measured runs are
/// bench/compare.sh, never CI): 200 packets, every one fulfilled, the JSON line parses, and the
/// ledger holds exactly the 4 transfers per packet (plus the warmup's) the two phases write, none of the
/// start-up warm-up's 300 (they go through a throwaway connector with its own files).
/// </summary>
[Trait("Tier", "process")]
public class LoadGenSmokeTests
{
    [Fact]
    public async Task Loadgen_sends_200_packets_through_the_connector_and_all_are_fulfilled_and_booked()
    {
        var dir = Directory.CreateTempSubdirectory("m2m-loadgen-smoke-").FullName;
        string ledgerPath = Path.Combine(dir, "ledger.db"), config = Path.Combine(dir, "config.yaml");
        int btp = CliProcess.FreePort(), http = CliProcess.FreePort();
        await File.WriteAllTextAsync(config, """
            nodeId: smoke
            ilpAddress: g.smoke
            peers:
              - { id: alice, authToken: alice-secret }
              - { id: bob, authToken: bob-secret }
            routes:
              - { prefix: g.bob, nextHop: bob }
            """);
        var env = new Dictionary<string, string>
        {
            ["BTP_SERVER_PORT"] = btp.ToString(), ["HEALTH_CHECK_PORT"] = http.ToString(),
            ["BIND_ADDRESS"] = "127.0.0.1", ["LEDGER_PATH"] = ledgerPath,
            ["STARTUP_WARMUP_PACKETS"] = "300", // the shipped start: the warm-up's packets must not reach these books
        };
        using var connector = CliProcess.Start(env, "run", "--config", config);
        await CliProcess.WaitForHealth($"http://127.0.0.1:{http}/health", connector);

        var (code, stdout, stderr) = await RunLoadGen("--connector", $"ws://alice:alice-secret@127.0.0.1:{btp}", "--receiver-auth", "bob:bob-secret",
            "--destination", "g.bob.smoke", "--packets", "200", "--warmup", "20", "--concurrency", "8", "--duration-cap", "60", "--pid", connector.Id.ToString());

        Assert.True(code == 0, $"loadgen exit {code}\n{stdout}\n{stderr}");
        var report = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement;
        Assert.Equal(200, report.GetProperty("sent").GetInt64());
        Assert.Equal(200, report.GetProperty("fulfilled").GetInt64());
        Assert.Equal(0, report.GetProperty("rejected").GetInt64());
        Assert.Empty(report.GetProperty("errors").EnumerateObject());
        Assert.True(report.GetProperty("p99_ms").GetDouble() >= report.GetProperty("p50_ms").GetDouble());
        Assert.True(report.GetProperty("peak_rss_kb").GetInt64() > 10_000, "the connector's VmHWM was read");
        Assert.Contains("fulfilled 200, rejected 0", stdout);

        Assert.Contains("Startup warm-up: 300 of 300 packets fulfilled on a throwaway loopback connector", connector.Stdout + connector.Stderr);
        var (verifyCode, verifyOut, _) = await CliProcess.RunAsync(new Dictionary<string, string> { ["LEDGER_PATH"] = ledgerPath }, "ledger", "verify", "--config", config);
        Assert.Equal(0, verifyCode);
        Assert.Contains($"{4 * 220} transfers, 0 open pending, 0 violations", verifyOut);
    }

    [Fact]
    public async Task Loadgen_refuses_a_non_loopback_target_in_one_line()
    {
        var (code, _, stderr) = await RunLoadGen("--connector", "ws://alice:hunter2@192.0.2.1:3000");
        Assert.Equal(1, code);
        Assert.StartsWith("m2m-loadgen: --connector host '192.0.2.1' is not loopback", stderr);
        Assert.DoesNotContain("hunter2", stderr);
    }

    /// <summary>Its own build output (built by the project reference): the copy here lacks its runtime config's dependencies.</summary>
    private static string LoadGenDll
    {
        get
        {
            string configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name; // bin/<Configuration>/net10.0/
            return Path.Combine(M2M.TestKit.RepoPaths.Root, "bench", "M2M.LoadGen", "bin", configuration, "net10.0", "m2m-loadgen.dll");
        }
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunLoadGen(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(LoadGenDll);
        foreach (var a in args) info.ArgumentList.Add(a);
        return await CliProcess.RunToEndAsync(info, TimeSpan.FromSeconds(90));
    }
}
