using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Core.Stream;
using M2M.Core.Switch;

namespace M2M.Core.Tests;

/// <summary>
/// Steps that do not concern a forwarded packet hand it on without allocating (issue 18: no state machine,
/// closure or string per packet in front of the rest of the pipeline), and still do their work otherwise.
/// </summary>
[Trait("Tier", "unit")]
public class PassThroughStepTests
{
    private static readonly SwitchOptions Options = new() { IlpAddress = "g.conn" };
    private static readonly PeerDescriptor Alice = new("alice", PeerRelation.Peer, "USD", 9, null);
    private static readonly IlpReply Routed = IlpRejects.Create("F02", "g.conn", "routed");

    private sealed class OneAccount : IHostedAccountDirectory
    {
        public bool TryGet(string accountId, out HostedAccountInfo? account)
        {
            account = accountId == "agent1" ? new HostedAccountInfo("agent1", "USD", 9) : null;
            return account is not null;
        }
    }

    private static PacketContext Packet(string destination) => new(new IlpPrepare
    {
        Amount = 10,
        ExpiresAt = DateTimeOffset.UnixEpoch.AddYears(60),
        ExecutionCondition = new byte[32],
        Destination = destination,
    }, Alice, DateTimeOffset.UnixEpoch, default);

    private static long AllocatedBy(IPacketStep step, PacketContext context)
    {
        PacketHandler next = static _ => ValueTask.FromResult(Routed);
        for (int i = 0; i < 100; i++) _ = step.InvokeAsync(context, next); // warm up (tiering, statics)
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1_000; i++)
        {
            var reply = step.InvokeAsync(context, next);
            Assert.Same(Routed, reply.Result);
        }
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [Fact]
    public void Peer_limits_pass_a_peer_without_limits_on_without_allocating()
    {
        var step = new PeerLimitsStep(Options, _ => null, TimeProvider.System);
        Assert.Equal(0, AllocatedBy(step, Packet("g.bob.x")));
    }

    [Fact]
    public async Task Peer_limits_still_count_a_limited_peer_in_flight_and_release_it_after_the_reply()
    {
        var step = new PeerLimitsStep(Options, _ => new PeerLimits { MaxInFlight = 1 }, TimeProvider.System);
        var release = new TaskCompletionSource<IlpReply>();
        var first = step.InvokeAsync(Packet("g.bob.x"), _ => new ValueTask<IlpReply>(release.Task));
        Assert.Equal((1, 10UL), step.InFlight("alice"));
        var second = await step.InvokeAsync(Packet("g.bob.y"), _ => ValueTask.FromResult(Routed));
        Assert.Equal("T03", Assert.IsType<IlpReject>(second).Code);
        release.SetResult(Routed);
        Assert.Same(Routed, await first);
        Assert.Equal((0, 0UL), step.InFlight("alice"));
    }

    [Fact]
    public void Local_delivery_passes_a_packet_for_another_address_on_without_allocating()
    {
        var step = new LocalDeliveryStep(Options, new OneAccount(), new StreamReceiver(new byte[32], TimeProvider.System), new NullLedger());
        Assert.Equal(0, AllocatedBy(step, Packet("g.bob.x")));
        // Our address as a mere prefix of another segment is not ours either.
        Assert.Equal(0, AllocatedBy(step, Packet("g.connx.agent1.c")));
    }

    [Fact]
    public async Task Local_delivery_still_answers_for_a_hosted_account_and_routes_the_rest_under_our_address()
    {
        var step = new LocalDeliveryStep(Options, new OneAccount(), new StreamReceiver(new byte[32], TimeProvider.System), new NullLedger());
        PacketHandler next = _ => ValueTask.FromResult(Routed);

        var bare = Assert.IsType<IlpReject>(await step.InvokeAsync(Packet("g.conn.agent1"), next));
        Assert.Equal("F02", bare.Code);
        Assert.Equal("g.conn.agent1", bare.TriggeredBy);
        Assert.Same(Routed, await step.InvokeAsync(Packet("g.conn.child7.x"), next));
        Assert.Same(Routed, await step.InvokeAsync(Packet("g.conn"), next));
        // A STREAM packet for the account reaches the receiver (not routed), whatever it answers.
        Assert.NotSame(Routed, await step.InvokeAsync(Packet("g.conn.agent1.conn1"), next));
    }
}
