using System.Diagnostics;
using M2M.Btp;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace M2M.Reliability.Tests;

/// <summary>
/// Issue 13, defect 7: the BTP auth limiter was keyed on the source address alone, so ~10 bad tries a
/// minute from alice's address (a NAT, a proxy) kept alice out for the whole window. Guessing must stay
/// rate-limited while an attacker without alice's token cannot keep her out for more than a few seconds.
/// Driven over real WebSockets from chosen 127.0.0.x source addresses against a running connector.
/// </summary>
[Collection(SerialCollection.Name)] // timing-sensitive, and the socket flood must not starve other tests
public class AuthLockoutTests(ITestOutputHelper output)
{
    private const string Wrong = "wrong-token-0f9e2d";

    [Fact]
    [Trait("Tier", "integration")]
    public async Task Guessing_other_names_from_alices_address_never_blocks_her_and_guessing_hers_keeps_her_out_for_at_most_a_few_seconds()
    {
        await using var host = await Connector.StartAsync(Connector.TwoPeers());
        const string shared = "127.0.0.3"; // alice's NAT, shared with the attacker
        Assert.Null(await Attempt(host.BtpPort, shared, "alice", "alice-secret")); // alice has connected from here before

        // 1. Unknown usernames and bob's name, far past every budget, from alice's own address.
        int refusedOthers = 0;
        for (int i = 0; i < 60; i++)
            if ((await Attempt(host.BtpPort, shared, i % 2 == 0 ? $"nobody{i}" : "bob", Wrong))!.StartsWith("too many", StringComparison.Ordinal)) refusedOthers++;
        var watch = Stopwatch.StartNew();
        Assert.Null(await Attempt(host.BtpPort, shared, "alice", "alice-secret"));
        output.WriteLine($"60 guesses at other names from alice's address ({refusedOthers} refused before the check): alice accepted in {watch.Elapsed.TotalMilliseconds:F0} ms");
        Assert.True(refusedOthers >= 60 - 2 * 10, $"{refusedOthers} refused"); // each name's budget: 10

        // 2. Alice's own username, from her own address, well past its budget.
        long checkedBefore = host.AuthLimiter.ComparedCount;
        for (int i = 0; i < 30; i++) await Attempt(host.BtpPort, shared, "alice", Wrong);
        long comparedInBurst = host.AuthLimiter.ComparedCount - checkedBefore;
        // The attacker keeps going at the pace (one bad try every 6 s); alice retries twice a second.
        watch.Restart();
        using var stop = new CancellationTokenSource();
        var attacker = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await Attempt(host.BtpPort, shared, "alice", Wrong);
                await Task.Delay(6000, stop.Token).ContinueWith(_ => { });
            }
        });
        int tries = 0;
        string? last = "not tried";
        while (last is not null && watch.Elapsed < TimeSpan.FromSeconds(20))
        {
            tries++;
            last = await Attempt(host.BtpPort, shared, "alice", "alice-secret");
            if (last is not null) await Task.Delay(500);
        }
        var keptOut = watch.Elapsed;
        await stop.CancelAsync();
        await attacker;
        output.WriteLine($"30 guesses at alice's token from her address: {comparedInBurst} compared; with the attacker going on, alice got in after {keptOut.TotalSeconds:F1} s ({tries} tries)");
        Assert.Null(last);
        Assert.True(keptOut <= host.AuthLimiter.KnownBlock + TimeSpan.FromSeconds(2), $"alice kept out {keptOut}");
        Assert.Equal(10, comparedInBurst); // guessing stays limited: 10 compared, 20 refused before the check

        // 3. A stranger's address with alice's right token is still refused while that key is blocked (R13).
        for (int i = 0; i < 10; i++) await Attempt(host.BtpPort, "127.0.0.4", "alice", Wrong);
        Assert.StartsWith("too many failed auth attempts", await Attempt(host.BtpPort, "127.0.0.4", "alice", "alice-secret"));
    }

    [Fact]
    [Trait("Tier", "integration")]
    public async Task Distributed_guessing_of_one_name_is_capped_across_addresses_except_where_that_peer_authenticated()
    {
        await using var host = await Connector.StartAsync(Connector.TwoPeers());
        Assert.Null(await Attempt(host.BtpPort, "127.0.0.3", "alice", "alice-secret"));
        int budget = host.AuthLimiter.MaxFailuresPerUser;
        int compared = 0;
        long before = host.AuthLimiter.ComparedCount;
        for (int a = 0; a < 25; a++)
            for (int i = 0; i < 5; i++)
                await Attempt(host.BtpPort, $"127.0.1.{a + 1}", "alice", Wrong);
        compared = (int)(host.AuthLimiter.ComparedCount - before);
        output.WriteLine($"125 guesses at alice from 25 addresses: {compared} compared (per-user budget {budget})");
        Assert.Equal(budget, compared);
        Assert.StartsWith("too many failed auth attempts", await Attempt(host.BtpPort, "127.0.2.1", "alice", "alice-secret"));
        Assert.Null(await Attempt(host.BtpPort, "127.0.0.3", "alice", "alice-secret")); // her known address
        Assert.Null(await Attempt(host.BtpPort, "127.0.2.1", "bob", "bob-secret")); // other names unaffected
    }

    [Fact]
    [Trait("Tier", "unit")]
    public void Limiter_keys_known_and_unknown_usernames_apart_and_a_known_key_blocks_only_briefly()
    {
        var time = new FakeTimeProvider();
        var limiter = new BtpAuthLimiter(time: time) { ConfiguredUser = u => u is "alice" or "bob" ? u : null };
        limiter.RecordSuccess("10.0.0.1", "alice");
        for (int i = 0; i < 10; i++) limiter.RecordFailure("10.0.0.1", $"guess{i}");
        Assert.False(limiter.TryBegin("10.0.0.1", "mallory", out _));
        Assert.True(limiter.TryBegin("10.0.0.1", "alice", out _));
        Assert.True(limiter.TryBegin("10.0.0.1", "bob", out _));
        Assert.True(limiter.UnderPressure("10.0.0.1"));

        for (int i = 0; i < 10; i++) limiter.RecordFailure("10.0.0.1", "alice");
        Assert.False(limiter.TryBegin("10.0.0.1", "alice", out _));
        time.Advance(limiter.KnownBlock);
        Assert.True(limiter.TryBegin("10.0.0.1", "alice", out _)); // known: blocked only briefly
        for (int i = 0; i < 10; i++) limiter.RecordFailure("10.0.0.2", "alice");
        time.Advance(limiter.KnownBlock);
        Assert.False(limiter.TryBegin("10.0.0.2", "alice", out _)); // a stranger's key: the rest of the window
        time.Advance(limiter.Window);
        Assert.True(limiter.TryBegin("10.0.0.2", "alice", out _));
    }

    private static async Task<string?> Attempt(int port, string source, string user, string token)
    {
        await using var c = await RawBtpClient.ConnectAsync(port, source);
        return await c.AuthenticateAsync(user, token);
    }
}
