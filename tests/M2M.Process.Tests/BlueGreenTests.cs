using System.Diagnostics;
using System.Text.RegularExpressions;
using M2M.TestKit;
using Xunit.Abstractions;

namespace M2M.Process.Tests;

/// <summary>
/// Blue-green behind a real HAProxy, under load, with an outgoing peer: blue and green (same
/// nodeId, own SQLite ledgers: never one file for both) both have the upstream connector as an
/// outgoing peer. Green starts with `run --standby`, so it does not log in upstream (before, both
/// logged in as the same peer and knocked each other off ~5 times a second). A paying peer
/// (alice) sends through HAProxy all along; scripts/switch-traffic.sh switches to green and back.
/// Audited: one outcome per Prepare; the upstream saw exactly three logins (blue, green, blue);
/// every unit the receiver was paid is what blue + green debited alice, which is exactly what alice
/// saw fulfilled (no reply lost: the demoted colour closes her session itself once it is answered);
/// no pending transfer left; `ledger verify` consistent on all three ledgers. T01s only while a
/// switch runs, and each switch takes under 15 s.
/// </summary>
[Collection("data")]
public class BlueGreenTests(ITestOutputHelper output)
{
    private const string AdminToken = "bg-admin-token-4b1f0c7e9d2a";
    private const ulong Amount = 10;

    [Fact]
    [Trait("Tier", "process")]
    public async Task Switch_to_green_and_back_under_load_keeps_every_packet_accounted_and_never_fights_upstream()
    {
        Assert.True(HaproxyProcess.Executable is not null, "haproxy is not installed (apt-get install haproxy; .ci/run installs it)");
        string dir = Directory.CreateTempSubdirectory("m2m-bluegreen-").FullName;
        var procs = new List<CliProcess>();
        try
        {
            // The upstream connector and the receiver behind it (fulfills everything).
            int upBtp = CliProcess.FreePort(), upHttp = CliProcess.FreePort();
            string upConfig = Write(dir, "upstream.yaml", """
                nodeId: upstream
                ilpAddress: g.upstream
                peers:
                  - { id: bg, authToken: bg-upstream-secret-5e2c }
                  - { id: receiver, authToken: receiver-secret-77d1 }
                routes:
                  - { prefix: g.receiver, nextHop: receiver }
                """);
            var upstream = Start(procs, dir, "upstream", upConfig, upBtp, upHttp);
            await CliProcess.WaitForHealth($"http://127.0.0.1:{upHttp}/health", upstream);
            await using var receiver = await TestPeer.ConnectAsync(upBtp, "receiver", "receiver-secret-77d1");

            string bgConfig = Write(dir, "bg.yaml", $$"""
                nodeId: bg
                ilpAddress: g.bg
                peers:
                  - { id: alice, authToken: alice-secret-0f3b9a }
                  - { id: upstream, url: "ws://127.0.0.1:{{upBtp}}/", authToken: bg-upstream-secret-5e2c }
                routes:
                  - { prefix: g.receiver, nextHop: upstream }
                """);
            int blueBtp = CliProcess.FreePort(), blueHttp = CliProcess.FreePort(), greenBtp = CliProcess.FreePort(), greenHttp = CliProcess.FreePort();
            var blue = Start(procs, dir, "blue", bgConfig, blueBtp, blueHttp);
            var green = Start(procs, dir, "green", bgConfig, greenBtp, greenHttp, "--standby");
            await CliProcess.WaitForHealth($"http://127.0.0.1:{blueHttp}/health", blue);
            await CliProcess.WaitForHealth($"http://127.0.0.1:{greenHttp}/health", green);
            await Eventually.Until(() => Regex.Matches(upstream.Stdout, "Peer bg connected").Count == 1, "blue logs in upstream");
            Assert.Contains("Standby: not logging in to 1 outgoing peers", green.Stdout);

            using var haproxy = await HaproxyProcess.StartAsync(dir, [("blue", blueBtp, blueHttp, false), ("green", greenBtp, greenHttp, true)]);
            await using var load = new PaymentLoad(haproxy.BtpPort, "alice", "alice-secret-0f3b9a", "g.receiver.shop", Amount);
            load.Phase = "blue";
            load.Start(workers: 4, pause: TimeSpan.FromMilliseconds(5));
            await load.WaitForFulfilledAsync(100, TimeSpan.FromSeconds(60));

            var env = new Dictionary<string, string>
            {
                ["ADMIN_API_TOKEN"] = AdminToken, ["BLUE_URL"] = $"http://127.0.0.1:{blueHttp}", ["GREEN_URL"] = $"http://127.0.0.1:{greenHttp}",
                ["HAPROXY_ADMIN"] = haproxy.Admin,
            };
            var dry = await ScriptRunner.RunAsync("switch-traffic.sh", dir, env, "green", "--dry-run");
            Assert.True(dry.Code == 0, dry.Stdout + dry.Stderr);
            Assert.Contains($"dry run: POST http://127.0.0.1:{blueHttp}/admin/release-inbound", dry.Stdout);
            Assert.Contains("dry run: haproxy: shutdown sessions server be_btp/blue", dry.Stdout);
            Assert.Single(Regex.Matches(upstream.Stdout, "Peer bg connected")); // the dry run changed nothing

            var sw = Stopwatch.StartNew();
            load.Phase = "switch-to-green";
            var toGreen = await ScriptRunner.RunAsync("switch-traffic.sh", dir, env, "green");
            output.WriteLine(toGreen.Stdout + toGreen.Stderr);
            Assert.True(toGreen.Code == 0, toGreen.Stdout + toGreen.Stderr);
            var toGreenTime = sw.Elapsed;
            load.Phase = "green";
            await load.WaitForFulfilledAsync(100, TimeSpan.FromSeconds(60));
            Assert.True(load.Count("green/fulfilled") > 0, load.Describe());

            sw.Restart();
            load.Phase = "switch-to-blue";
            var toBlue = await ScriptRunner.RunAsync("switch-traffic.sh", dir, env, "blue");
            output.WriteLine(toBlue.Stdout + toBlue.Stderr);
            Assert.True(toBlue.Code == 0, toBlue.Stdout + toBlue.Stderr);
            var toBlueTime = sw.Elapsed;
            load.Phase = "blue-again";
            await load.WaitForFulfilledAsync(100, TimeSpan.FromSeconds(60));
            await load.StopAsync();
            output.WriteLine($"outcomes: {load.Describe()}; sent {load.Sent}; switch to green {toGreenTime.TotalSeconds:F1} s, back {toBlueTime.TotalSeconds:F1} s");

            // Blue served until the switch, green after it; each side fulfilled packets.
            Assert.True(load.Count("blue/fulfilled") >= 100 && load.Count("green/fulfilled") >= 100 && load.Count("blue-again/fulfilled") >= 100, load.Describe());
            // No fight: exactly three logins upstream (blue, green after its promotion, blue after the switch back).
            Assert.Equal(3, Regex.Matches(upstream.Stdout, "Peer bg connected").Count);
            // Only while a switch is under way: T01 (the demoted node's outgoing peer is gone) or "unsent" (a Prepare
            // that crossed the demoted node's 1001 close on the wire: not handled, no money). No reply is lost: the
            // demoted colour closes its peers' sessions itself once every request is answered (release-inbound).
            foreach (var (key, n) in load.Outcomes.Where(o => o.Key.Contains('/') && o.Key.Split('/')[1] is not "fulfilled"))
                Assert.True(key.StartsWith("switch-", StringComparison.Ordinal) && key.Split('/')[1] is "T01" or "unsent", $"{key}={n}: {load.Describe()}");
            int t01 = load.Count("T01"), lost = load.Count("lost");
            Assert.True(lost == 0, $"T01 {t01}, lost {lost}: {load.Describe()}");
            // T01s grow with the payer's rate, so what is bounded is the switch's window (promote waits at most 10 s for the login).
            Assert.True(toGreenTime < TimeSpan.FromSeconds(15) && toBlueTime < TimeSpan.FromSeconds(15), $"switches took {toGreenTime} and {toBlueTime}; T01 {t01}");
            Assert.Contains("\"closedInboundSessions\":1", toGreen.Stdout);
            Assert.Contains("\"closedInboundSessions\":1", toBlue.Stdout);

            // The books, after a graceful stop of every node.
            foreach (var p in procs) await DataTestNode.StopAsync(p);
            UInt128 upBg = await DataTestNode.DebitsPosted(Ledger(dir, "upstream"), "peer:bg");
            UInt128 receiverPaid = await CreditsPosted(Ledger(dir, "upstream"), "peer:receiver");
            UInt128 aliceDebited = await DataTestNode.DebitsPosted(Ledger(dir, "blue"), "peer:alice") + await DataTestNode.DebitsPosted(Ledger(dir, "green"), "peer:alice");
            UInt128 upstreamCredited = await CreditsPosted(Ledger(dir, "blue"), "peer:upstream") + await CreditsPosted(Ledger(dir, "green"), "peer:upstream");
            Assert.Equal((UInt128)(receiver.Received.Count * (int)Amount), receiverPaid);
            Assert.Equal(receiverPaid, upBg);
            Assert.Equal(upBg, upstreamCredited);
            Assert.Equal(upBg, aliceDebited);
            Assert.True(aliceDebited == (UInt128)load.FulfilledAmount, $"alice was debited {aliceDebited}, saw {load.FulfilledAmount} fulfilled: {load.Describe()}");
            foreach (string name in new[] { "upstream", "blue", "green" })
            {
                Assert.Equal("", await OpenPending(Ledger(dir, name)));
                var verify = await CliProcess.RunAsync(new Dictionary<string, string> { ["LEDGER_PATH"] = Ledger(dir, name) }, "ledger", "verify");
                Assert.True(verify.Code == 0, name + ": " + verify.Stdout + verify.Stderr);
            }
        }
        finally
        {
            foreach (var p in procs) p.Dispose();
        }
    }

    private static CliProcess Start(List<CliProcess> procs, string dir, string name, string config, int btp, int http, params string[] extra)
    {
        var p = CliProcess.Start(new Dictionary<string, string>
        {
            ["BTP_SERVER_PORT"] = btp.ToString(), ["HEALTH_CHECK_PORT"] = http.ToString(), ["BIND_ADDRESS"] = "127.0.0.1",
            ["LEDGER_PATH"] = Ledger(dir, name), ["ADMIN_API_TOKEN"] = AdminToken,
        }, ["run", "--config", config, .. extra]);
        procs.Add(p);
        return p;
    }

    private static string Ledger(string dir, string name) => Path.Combine(dir, name, "ledger.db");

    private static string Write(string dir, string name, string text)
    {
        string path = Path.Combine(dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static async Task<UInt128> CreditsPosted(string ledger, string prefix)
    {
        await using var s = M2M.Ledger.Sqlite.SqliteSnapshot.Open(ledger);
        return s.Accounts().Single(a => a.Name.StartsWith(prefix, StringComparison.Ordinal)).CreditsPosted;
    }

    /// <summary>Accounts with a pending amount left ("" when none).</summary>
    private static async Task<string> OpenPending(string ledger)
    {
        await using var s = M2M.Ledger.Sqlite.SqliteSnapshot.Open(ledger);
        return string.Join(", ", s.Accounts().Where(a => a.DebitsPending != 0 || a.CreditsPending != 0).Select(a => a.Name));
    }
}
