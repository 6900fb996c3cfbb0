using System.Security.Cryptography;
using M2M.Core.Ilp;
using M2M.Core.Switch;
using Microsoft.Extensions.Time.Testing;

namespace M2M.Reliability.Tests;

/// <summary>Unit tests of the per-peer limits step with a fake clock (no I/O).</summary>
[Trait("Tier", "unit")]
public class PeerLimitsStepTests
{
    private static readonly SwitchOptions Options = new() { IlpAddress = "g.conn" };
    private static readonly PeerDescriptor Alice = new("alice", PeerRelation.Peer, "USD", 9, null);

    private sealed class Counting : ILimitObserver
    {
        public List<(string Peer, string Limit)> Seen { get; } = [];
        public void Rejected(string peerId, string limit) { lock (Seen) Seen.Add((peerId, limit)); }
    }

    private static PacketContext Packet(ulong amount = 10, PeerDescriptor? source = null) => new(new IlpPrepare
    {
        Amount = amount,
        ExpiresAt = DateTimeOffset.UtcNow.AddSeconds(10),
        ExecutionCondition = RandomNumberGenerator.GetBytes(32),
        Destination = "g.bob.x",
    }, source ?? Alice, DateTimeOffset.UtcNow, CancellationToken.None);

    private static readonly PacketHandler Fulfill = _ => ValueTask.FromResult<IlpReply>(new IlpFulfill { Fulfillment = new byte[32] });

    private static string Outcome(IlpReply r) => r is IlpReject j ? j.Code : "fulfilled";

    [Fact]
    public async Task Token_bucket_passes_the_burst_then_refuses_with_T05_and_refills_at_the_rate()
    {
        var time = new FakeTimeProvider();
        var observer = new Counting();
        var step = new PeerLimitsStep(Options, _ => new PeerLimits { PacketsPerSecond = 10, Burst = 5 }, time, observer);

        var first = new List<string>();
        for (int i = 0; i < 8; i++) first.Add(Outcome(await step.InvokeAsync(Packet(), Fulfill)));
        Assert.Equal(["fulfilled", "fulfilled", "fulfilled", "fulfilled", "fulfilled", "T05", "T05", "T05"], first);

        time.Advance(TimeSpan.FromMilliseconds(99)); // 0.99 token: still refused
        Assert.Equal("T05", Outcome(await step.InvokeAsync(Packet(), Fulfill)));
        time.Advance(TimeSpan.FromMilliseconds(2));
        Assert.Equal("fulfilled", Outcome(await step.InvokeAsync(Packet(), Fulfill)));
        Assert.Equal("T05", Outcome(await step.InvokeAsync(Packet(), Fulfill)));

        time.Advance(TimeSpan.FromHours(1)); // refill is capped at the burst
        int passed = 0;
        for (int i = 0; i < 20; i++) if (await step.InvokeAsync(Packet(), Fulfill) is IlpFulfill) passed++;
        Assert.Equal(5, passed);
        Assert.Equal(3 + 1 + 1 + 15, observer.Seen.Count(s => s == ("alice", PeerLimitsStep.RateLimit)));
    }

    [Fact]
    public async Task Sustained_rate_over_ten_simulated_seconds_is_the_configured_rate_exactly()
    {
        var time = new FakeTimeProvider();
        var step = new PeerLimitsStep(Options, _ => new PeerLimits { PacketsPerSecond = 50 }, time);
        int passed = 0;
        for (int ms = 0; ms < 10_000; ms++) // 1,000 packets/s offered for 10 s
        {
            if (await step.InvokeAsync(Packet(), Fulfill) is IlpFulfill) passed++;
            time.Advance(TimeSpan.FromMilliseconds(1));
        }
        Assert.InRange(passed, 50 * 10, 50 * 10 + 50); // rate × time, plus the initial burst of one second
    }

    [Fact]
    public async Task In_flight_count_refuses_with_T03_while_full_and_frees_slots_as_replies_return()
    {
        var step = new PeerLimitsStep(Options, _ => new PeerLimits { MaxInFlight = 3 }, TimeProvider.System);
        var release = new TaskCompletionSource();
        PacketHandler held = async _ => { await release.Task; return new IlpFulfill { Fulfillment = new byte[32] }; };

        var pending = Enumerable.Range(0, 3).Select(_ => step.InvokeAsync(Packet(), held).AsTask()).ToList();
        Assert.Equal((3, 30UL), step.InFlight("alice"));
        var refused = Assert.IsType<IlpReject>(await step.InvokeAsync(Packet(), Fulfill));
        Assert.Equal("T03", refused.Code);
        Assert.Contains("3 packets in flight", refused.Message);
        // Another peer is not affected by alice's limit.
        var bob = new PeerDescriptor("bob", PeerRelation.Peer, "USD", 9, null);
        var other = new PeerLimitsStep(Options, id => id == "alice" ? new PeerLimits { MaxInFlight = 3 } : null, TimeProvider.System);
        Assert.IsType<IlpFulfill>(await other.InvokeAsync(Packet(source: bob), Fulfill));

        release.SetResult();
        await Task.WhenAll(pending);
        Assert.Equal((0, 0UL), step.InFlight("alice"));
        Assert.IsType<IlpFulfill>(await step.InvokeAsync(Packet(), Fulfill));
    }

    [Fact]
    public async Task In_flight_value_refuses_with_T04_exactly_past_the_cap_and_a_thrown_step_frees_its_slot()
    {
        var observer = new Counting();
        var step = new PeerLimitsStep(Options, _ => new PeerLimits { MaxInFlightValue = 100 }, TimeProvider.System, observer);
        var release = new TaskCompletionSource();
        PacketHandler held = async _ => { await release.Task; return new IlpFulfill { Fulfillment = new byte[32] }; };

        var sixty = step.InvokeAsync(Packet(60), held).AsTask();
        Assert.Equal("T04", ((IlpReject)await step.InvokeAsync(Packet(41), Fulfill)).Code);
        Assert.Equal("T04", ((IlpReject)await step.InvokeAsync(Packet(ulong.MaxValue), Fulfill)).Code); // no overflow
        var forty = step.InvokeAsync(Packet(40), held).AsTask(); // exactly 100
        Assert.Equal((2, 100UL), step.InFlight("alice"));
        release.SetResult();
        await Task.WhenAll(sixty, forty);

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await step.InvokeAsync(Packet(100), _ => throw new InvalidOperationException("boom")));
        Assert.Equal((0, 0UL), step.InFlight("alice"));
        Assert.Equal(2, observer.Seen.Count(s => s.Limit == PeerLimitsStep.InFlightValueLimit));
    }

    [Fact]
    public async Task A_peer_without_limits_is_never_refused()
    {
        var step = new PeerLimitsStep(Options, _ => null, new FakeTimeProvider());
        for (int i = 0; i < 10_000; i++) Assert.IsType<IlpFulfill>(await step.InvokeAsync(Packet(ulong.MaxValue), Fulfill));
    }
}
