using System.Security.Cryptography;
using M2M.Core.Ilp;
using M2M.Core.Switch;

namespace M2M.Core.Tests;

/// <summary>
/// On the system clock the forwarding step reuses its expiry source (issue 18): a forwarded packet allocates no
/// CancellationTokenSource or timer of its own, and a reused source still ends the wait at the packet's expiry.
/// </summary>
[Trait("Tier", "unit")]
public class ForwardingTimeoutTests
{
    private static readonly SwitchOptions Options = new() { IlpAddress = "g.conn" };
    private static readonly PeerDescriptor Alice = new("alice", PeerRelation.Peer, "USD", 9, null);

    /// <summary>One link; answers with <see cref="Reply"/> at once, or never (until its token fires) when it is null.</summary>
    private sealed class OneLink : IPeerLinks, IPeerLink
    {
        public IlpReply? Reply { get; set; }
        public string PeerId => "bob";

        public bool TryGetLink(string peerId, out IPeerLink? link)
        {
            link = this;
            return true;
        }

        public ValueTask<IlpReply> SendPrepareAsync(IlpPrepare prepare, CancellationToken ct) =>
            Reply is { } reply ? ValueTask.FromResult(reply) : new ValueTask<IlpReply>(Task.Delay(Timeout.Infinite, ct).ContinueWith<IlpReply>(_ => throw new OperationCanceledException(ct), TaskScheduler.Default));
    }

    private static PacketContext Packet(TimeSpan expiresIn, byte[] condition)
    {
        var now = DateTimeOffset.UtcNow;
        return new PacketContext(new IlpPrepare { Amount = 1, ExpiresAt = now + expiresIn, ExecutionCondition = condition, Destination = "g.bob.x" }, Alice, now, default)
        {
            NextHop = "bob",
            OutgoingExpiresAt = now + expiresIn - Options.ExpiryMargin,
        };
    }

    /// <summary>The system clock under another name: the step cannot tell it is the system clock, so it does not reuse.</summary>
    private sealed class OtherClock : TimeProvider;

    [Fact]
    public void A_fulfilled_forward_allocates_no_timeout_of_its_own()
    {
        // Compared with the same step on a clock it does not reuse sources for (absolute figures differ between
        // Debug and Release builds: Debug's async state machines are classes).
        long reusing = AllocatedPerForward(TimeProvider.System);
        long fresh = AllocatedPerForward(new OtherClock());
        // A CancellationTokenSource with its timer is over 100 bytes.
        Assert.True(fresh - reusing >= 100, $"{reusing} bytes per forward on the system clock, {fresh} with a fresh source each time");
    }

    private static long AllocatedPerForward(TimeProvider clock)
    {
        var fulfillment = RandomNumberGenerator.GetBytes(32);
        var fulfill = new IlpFulfill { Fulfillment = fulfillment };
        var step = new ForwardingStep(Options, new OneLink { Reply = fulfill }, clock);
        var context = Packet(TimeSpan.FromSeconds(30), SHA256.HashData(fulfillment));
        ForwardSynchronously(step, context, fulfill, 100); // warm up
        long before = GC.GetAllocatedBytesForCurrentThread();
        ForwardSynchronously(step, context, fulfill, 1_000);
        return (GC.GetAllocatedBytesForCurrentThread() - before) / 1_000;
    }

    /// <summary>The link answers at once, so each call completes synchronously (checked).</summary>
    private static void ForwardSynchronously(ForwardingStep step, PacketContext context, IlpReply expected, int packets)
    {
        for (int i = 0; i < packets; i++)
        {
            var reply = step.InvokeAsync(context);
            Assert.True(reply.IsCompletedSuccessfully);
            Assert.Same(expected, reply.Result);
        }
    }

    [Fact]
    public async Task A_reused_expiry_source_still_ends_the_wait_at_the_packets_expiry()
    {
        var fulfillment = RandomNumberGenerator.GetBytes(32);
        var links = new OneLink { Reply = new IlpFulfill { Fulfillment = fulfillment } };
        var step = new ForwardingStep(Options, links, TimeProvider.System);
        for (int i = 0; i < 10; i++) Assert.IsType<IlpFulfill>(await step.InvokeAsync(Packet(TimeSpan.FromSeconds(30), SHA256.HashData(fulfillment))));

        links.Reply = null; // the next hop goes silent
        for (int i = 0; i < 3; i++)
        {
            var started = DateTimeOffset.UtcNow;
            var reply = Assert.IsType<IlpReject>(await step.InvokeAsync(Packet(TimeSpan.FromMilliseconds(1_300), new byte[32])).AsTask().WaitAsync(TimeSpan.FromSeconds(20)));
            Assert.Equal("R00", reply.Code);
            Assert.True(DateTimeOffset.UtcNow - started >= TimeSpan.FromMilliseconds(250), "the wait ended before the outgoing expiry");
        }
    }
}
