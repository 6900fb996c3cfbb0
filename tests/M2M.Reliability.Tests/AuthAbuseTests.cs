using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using M2M.Btp;
using M2M.Core.Ilp;
using M2M.Server;
using M2M.TestKit;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace M2M.Reliability.Tests;

/// <summary>R13/R14/R15: BTP auth brute force, oversize frames, idle and slowloris connections, admin tokens.</summary>
[Trait("Tier", "integration")]
public class AuthAbuseTests(ITestOutputHelper output)
{
    [Fact]
    public void Limiter_blocks_a_source_after_ten_failures_for_the_rest_of_its_minute_and_only_that_source()
    {
        var time = new FakeTimeProvider();
        var limiter = new BtpAuthLimiter(time: time);
        for (int i = 0; i < 10; i++)
        {
            Assert.True(limiter.TryBegin("10.0.0.1", out _));
            limiter.RecordFailure("10.0.0.1");
        }
        Assert.False(limiter.TryBegin("10.0.0.1", out bool first));
        Assert.True(first);
        Assert.False(limiter.TryBegin("10.0.0.1", out first));
        Assert.False(first); // logged once per block
        Assert.True(limiter.TryBegin("10.0.0.2", out _));

        time.Advance(TimeSpan.FromSeconds(59.9));
        Assert.False(limiter.TryBegin("10.0.0.1", out _));
        time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.True(limiter.TryBegin("10.0.0.1", out _));
        Assert.Equal(0, limiter.FailuresOf("10.0.0.1"));
        Assert.Equal((12L, 3L), (limiter.CheckedCount, limiter.RefusedCount));
    }

    [Fact]
    public async Task Brute_force_from_one_address_is_refused_before_the_token_compare_and_logged_once_without_the_token()
    {
        var logs = new CapturingLoggerFactory();
        await using var host = await Connector.StartAsync(Connector.TwoPeers(), logs);
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        long checkedBefore = host.AuthLimiter.ComparedCount;
        const string wrong = "wrong-token-5f1c9a";
        const int workers = 16, perWorker = 124, attempts = 20 + workers * perWorker;

        var watch = Stopwatch.StartNew();
        var honest = Task.WhenAll(Enumerable.Range(0, 200).Select(async i => { await Task.Delay(i * 5); return await alice.SendAsync(TestPeer.Payment("g.bob.x", 1)); }));
        var answers = new List<string?>();
        for (int i = 0; i < 20; i++) answers.Add(await Attempt(host.BtpPort, i % 2 == 0 ? "alice" : "nobody", wrong));
        var rest = await Task.WhenAll(Enumerable.Range(0, workers).Select(async _ =>
        {
            var mine = new List<string?>();
            for (int i = 0; i < perWorker; i++) mine.Add(await Attempt(host.BtpPort, "alice", wrong));
            return mine;
        }));
        answers.AddRange(rest.SelectMany(x => x));
        // The right token from the blocked address is refused too: alice never authenticated from there, so
        // (127.0.0.2, alice) is a stranger's key, blocked for the rest of its window (AuthLockoutTests: her own address is not).
        string? rightButBlocked = await Attempt(host.BtpPort, "alice", "alice-secret");
        var honestReplies = await honest;
        watch.Stop();

        long compared = host.AuthLimiter.ComparedCount - checkedBefore;
        int blocked = answers.Count(a => a!.StartsWith("too many failed auth attempts", StringComparison.Ordinal));
        output.WriteLine($"{answers.Count} wrong-token attempts in {watch.Elapsed.TotalSeconds:F1} s: {compared} reached the token compare ({100.0 * (answers.Count - compared) / answers.Count:F2} % never did), {blocked} were refused before any check");
        Assert.Equal(attempts, answers.Count);
        Assert.All(answers, a => Assert.NotNull(a)); // 0 accepted
        // 10 per key: (127.0.0.2, alice) and (127.0.0.2, unknown usernames); only alice's 10 reach a token compare.
        Assert.Equal(20, answers.Count(a => a == "invalid auth credentials"));
        Assert.Equal(attempts - 20, blocked);
        Assert.Equal(10, compared);
        Assert.StartsWith("too many failed auth attempts", rightButBlocked);
        Assert.All(honestReplies, r => Assert.IsType<IlpFulfill>(r)); // the real peer (another address) kept working

        string log = logs.All;
        // Logged once, when the key is first refused: only alice's key was tried again after its 10 failures.
        Assert.Single(logs.Lines, l => l.Contains("[2004]") && l.Contains("127.0.0.2"));
        Assert.Contains("user 'alice'", logs.Lines.Single(l => l.Contains("[2004]")));
        Assert.DoesNotContain(wrong, log);
        Assert.DoesNotContain("alice-secret", log);
        string metrics = await new HttpClient().GetStringAsync($"http://127.0.0.1:{host.HealthPort}/metrics");
        Assert.Contains($"btp_auth_refused_total{{reason=\"source_blocked\"}} {attempts - 20 + 1}", metrics);
        Assert.Contains("btp_auth_refused_total{reason=\"failed\"} 20", metrics);
    }

    private static async Task<string?> Attempt(int port, string user, string token)
    {
        await using var c = await RawBtpClient.ConnectAsync(port, "127.0.0.2");
        return await c.AuthenticateAsync(user, token);
    }

    [Theory]
    [InlineData(65_537UL, 65_537)]              // max + 1, all sent
    [InlineData(1024UL * 1024, 1024 * 1024)]      // 1 MiB, all sent
    [InlineData(100UL * 1024 * 1024, 128 * 1024)] // 100 MiB declared, 128 KiB sent
    public async Task Oversize_frames_are_refused_with_1009_quickly_before_auth_and_others_keep_working(ulong declared, int sent)
    {
        await using var host = await Connector.StartAsync(Connector.TwoPeers());
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        using var raw = await RawTcp.ConnectAsync(host.BtpPort);
        await raw.UpgradeAsync();
        long memoryBefore = GC.GetTotalMemory(false);

        var watch = Stopwatch.StartNew();
        await raw.Socket.SendAsync(RawTcp.FrameHeader(declared));
        var send = raw.Socket.SendAsync(new byte[sent]); // the server may close before taking it all
        int? close = await raw.ReadCloseStatusAsync(TimeSpan.FromSeconds(5));
        watch.Stop();
        try { await send; } catch (System.Net.Sockets.SocketException) { }

        output.WriteLine($"declared {declared} B: close {close} after {watch.Elapsed.TotalMilliseconds:F0} ms, managed heap +{(GC.GetTotalMemory(false) - memoryBefore) / 1024} KiB");
        Assert.Equal(1009, close);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"took {watch.Elapsed}");
        Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 1)));
    }

    [Fact]
    public async Task Exactly_max_frame_size_is_not_refused_as_too_big()
    {
        await using var host = await Connector.StartAsync(Connector.TwoPeers());
        using var raw = await RawTcp.ConnectAsync(host.BtpPort);
        await raw.UpgradeAsync();
        await raw.Socket.SendAsync(RawTcp.FrameHeader(65_536));
        await raw.Socket.SendAsync(new byte[65_536]); // zeros: not a BTP auth packet, so refused as a policy violation
        Assert.Equal(1008, await raw.ReadCloseStatusAsync(TimeSpan.FromSeconds(5)));
    }

    /// <summary>R15 (short): 500 idle WebSockets that never authenticate and 20 slowloris clients; a real peer is not starved.</summary>
    [Fact]
    public async Task Idle_unauthenticated_connections_and_slowloris_are_cut_and_do_not_starve_a_real_peer()
    {
        var authTimeout = TimeSpan.FromSeconds(2);
        await using var host = await Connector.StartAsync(Connector.TwoPeers() with { BtpAuthTimeout = authTimeout });
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        var baseline = await Throughput(alice, 300);

        var idle = new List<RawTcp>();
        var openedAt = new List<TimeSpan>();
        var opened = Stopwatch.StartNew();
        for (int i = 0; i < 500; i++)
        {
            var c = await RawTcp.ConnectAsync(host.BtpPort);
            await c.UpgradeAsync();
            idle.Add(c);
            openedAt.Add(opened.Elapsed);
        }
        double openedAllAfter = opened.Elapsed.TotalSeconds;
        var slow = new List<RawTcp>();
        for (int i = 0; i < 20; i++) slow.Add(await RawTcp.ConnectAsync(host.HealthPort));
        using var stopDrip = new CancellationTokenSource();
        var drip = Task.Run(async () =>
        {
            // Slowloris: one header byte per second per connection, never finishing the request.
            byte[] request = System.Text.Encoding.ASCII.GetBytes("GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: " + new string('a', 100));
            for (int i = 0; i < request.Length && !stopDrip.IsCancellationRequested; i++)
            {
                foreach (var s in slow) { try { await s.Socket.SendAsync(request.AsMemory(i, 1)); } catch (System.Net.Sockets.SocketException) { } }
                await Task.Delay(1000, stopDrip.Token).ContinueWith(_ => { });
            }
        });
        var underAttack = await Throughput(alice, 300);
        // Each socket's own deadline: its auth timeout, then the close handshake it never answers (the
        // server aborts after CloseTimeout, 5 s), plus 5 s of slack. Counted from when that socket opened:
        // opening 500 took over 3 s in CI beside the process tests, so one deadline for all failed there.
        var closeBy = authTimeout + M2M.Btp.BtpLimits.Default.CloseTimeout + TimeSpan.FromSeconds(5);
        var closedIdle = await Task.WhenAll(idle.Select((c, i) => c.ClosedByServerAsync(openedAt[i] + closeBy - opened.Elapsed)));
        double idleClosedAfter = opened.Elapsed.TotalSeconds;
        var healthWhileSlow = await new HttpClient().GetAsync($"http://127.0.0.1:{host.HealthPort}/health/live");
        var closedSlow = await Task.WhenAll(slow.Select(c => c.ClosedByServerAsync(TimeSpan.FromSeconds(15))));
        await stopDrip.CancelAsync();
        await drip;
        // The machine is shared with the other test assemblies: the peer's rate with the attack gone, measured
        // just after it, tells a busy machine (both low) from starvation (only the attack's low).
        var afterAttack = await Throughput(alice, 300);
        double reference = Math.Min(baseline, afterAttack);

        output.WriteLine($"baseline {baseline:F0} packets/s, with 500 idle + 20 slowloris {underAttack:F0} packets/s, after {afterAttack:F0}; idle opened in {openedAllAfter:F1} s, closed {closedIdle.Count(c => c)}/500 each within {closeBy.TotalSeconds} s of its opening, all by {idleClosedAfter:F1} s (auth timeout {authTimeout.TotalSeconds} s); slowloris closed {closedSlow.Count(c => c)}/20");
        Assert.All(closedIdle, Assert.True);
        Assert.All(closedSlow, Assert.True);
        Assert.Equal(HttpStatusCode.OK, healthWhileSlow.StatusCode);
        Assert.True(underAttack >= 0.5 * reference, $"real peer starved: {underAttack:F0} packets/s under attack vs {baseline:F0} before and {afterAttack:F0} after");
        foreach (var c in idle.Concat(slow)) c.Dispose();
    }

    /// <summary>
    /// Best of 6 rounds: one round of a few hundred packets lasts ~100 ms, so a scheduling hiccup on a
    /// 2-core machine (CI runs the process tests' connectors beside this one) could halve it; best of 3
    /// failed once so in CI (1,442 vs 3,677 packets/s) and passed alone. Starvation depresses every round;
    /// six rounds still end well inside the idle sockets' lifetime (all 500 are open until the auth timeout).
    /// </summary>
    private static async Task<double> Throughput(TestPeer peer, int packets)
    {
        double best = 0;
        for (int round = 0; round < 6; round++)
        {
            var watch = Stopwatch.StartNew();
            var replies = await Task.WhenAll(Enumerable.Range(0, packets).Select(_ => peer.SendAsync(TestPeer.Payment("g.bob.x", 1))));
            Assert.All(replies, r => Assert.IsType<IlpFulfill>(r));
            best = Math.Max(best, packets / watch.Elapsed.TotalSeconds);
        }
        return best;
    }

    /// <summary>Every admin endpoint (enumerated from AdminEndpoints.cs) refuses no token and a wrong token.</summary>
    [Fact]
    public async Task Every_admin_endpoint_rejects_a_missing_or_wrong_token_and_refuses_all_without_ADMIN_API_TOKEN()
    {
        (string Method, string Path)[] endpoints =
        [
            ("GET", "/admin/balances"), ("POST", "/settlement/execute"), ("POST", "/settlement/redeem/alice"),
            ("GET", $"/settlement/{Guid.NewGuid()}"), ("GET", "/settlement/status/alice"), ("GET", "/settlements"),
        ];
        await using var host = await Connector.StartAsync(Connector.TwoPeers());
        await using var open = await Connector.StartAsync(Connector.TwoPeers() with { AdminApiToken = null });
        using var http = new HttpClient();
        foreach (var (method, path) in endpoints)
        {
            foreach (string? token in new[] { null, "wrong", "admin-token-but-longer", "" })
            {
                var status = await Send(http, method, $"http://127.0.0.1:{host.HealthPort}{path}", token);
                Assert.True(status == HttpStatusCode.Unauthorized, $"{method} {path} with token '{token}': {status}");
            }
            var ok = await Send(http, method, $"http://127.0.0.1:{host.HealthPort}{path}", "admin-token");
            Assert.NotEqual(HttpStatusCode.Unauthorized, ok);
            Assert.Equal(HttpStatusCode.Forbidden, await Send(http, method, $"http://127.0.0.1:{open.HealthPort}{path}", "admin-token"));
        }
    }

    private static async Task<HttpStatusCode> Send(HttpClient http, string method, string url, string? token)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), url);
        if (method == "POST") request.Content = new StringContent("{\"peerId\":\"alice\"}", System.Text.Encoding.UTF8, "application/json");
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }
}
