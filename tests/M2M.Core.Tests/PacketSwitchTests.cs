using System.Security.Cryptography;
using M2M.Core.Ilp;
using M2M.Core.Routing;
using M2M.Core.Switch;
using Microsoft.Extensions.Time.Testing;

namespace M2M.Core.Tests;

/// <summary>The switch's steps with a deterministic clock and an in-process next hop (unit tier, no I/O).</summary>
[Trait("Tier", "unit")]
public class PacketSwitchTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(Now);
    private readonly ScriptedLinks _links = new();
    private readonly SwitchOptions _options = new() { IlpAddress = "g.conn" };
    private static readonly PeerDescriptor Alice = new("alice", PeerRelation.Peer, "USD", 9, MaxPacketAmount: 1000);
    private static readonly PeerDescriptor Child = new("kid", PeerRelation.Child, "USD", 6, null);

    private PacketSwitch CreateSwitch(IPacketObserver? observer = null)
    {
        var routes = new RoutingTable([new Route("g.bob", "bob"), new Route("g.alice", "alice"), new Route("g.conn.local", "conn")]);
        IPacketStep[] steps = [new IldcpStep(_options), new MaxPacketAmountStep(_options), new ExpiryStep(_options, _time), new RoutingStep(_options, () => routes, "conn")];
        return new PacketSwitch(_options, steps, new ForwardingStep(_options, _links, _time), _time, observer);
    }

    private static (IlpPrepare Prepare, byte[] Fulfillment) Prepare(ulong amount = 10, string destination = "g.bob.x", double expiresInSeconds = 10)
    {
        var fulfillment = RandomNumberGenerator.GetBytes(32);
        var prepare = new IlpPrepare
        {
            Amount = amount,
            ExpiresAt = Now.AddSeconds(expiresInSeconds),
            ExecutionCondition = SHA256.HashData(fulfillment),
            Destination = destination,
        };
        return (prepare, fulfillment);
    }

    [Fact]
    public async Task Forwards_with_shortened_expiry_and_returns_a_valid_fulfill()
    {
        var (prepare, fulfillment) = Prepare(expiresInSeconds: 10);
        _links.Reply = p => new IlpFulfill { Fulfillment = fulfillment };

        var reply = await CreateSwitch().HandleAsync(prepare, Alice, default);

        Assert.IsType<IlpFulfill>(reply);
        var sent = Assert.Single(_links.Sent);
        Assert.Equal("bob", sent.PeerId);
        Assert.Equal(Now.AddSeconds(9), sent.Prepare.ExpiresAt);
        Assert.Equal(prepare.Amount, sent.Prepare.Amount);
    }

    [Fact]
    public async Task Outgoing_expiry_is_capped_by_the_max_hold_time()
    {
        var (prepare, fulfillment) = Prepare(expiresInSeconds: 120);
        _links.Reply = _ => new IlpFulfill { Fulfillment = fulfillment };

        await CreateSwitch().HandleAsync(prepare, Alice, default);

        Assert.Equal(Now.AddSeconds(30), _links.Sent.Single().Prepare.ExpiresAt);
    }

    [Fact]
    public async Task Wrong_fulfillment_is_rejected_F05()
    {
        var (prepare, _) = Prepare();
        _links.Reply = _ => new IlpFulfill { Fulfillment = new byte[32] };

        var reject = Assert.IsType<IlpReject>(await CreateSwitch().HandleAsync(prepare, Alice, default));

        Assert.Equal("F05", reject.Code);
        Assert.Equal("g.conn", reject.TriggeredBy);
    }

    [Theory]
    [InlineData("g.nowhere.x", "F02", "no route")]
    [InlineData("g.alice.x", "F02", "back to the sending peer")]
    [InlineData("g.conn.local.x", "F02", "local route")]
    public async Task Unroutable_packets_are_rejected_F02(string destination, string code, string message)
    {
        var reject = Assert.IsType<IlpReject>(await CreateSwitch().HandleAsync(Prepare(destination: destination).Prepare, Alice, default));
        Assert.Equal(code, reject.Code);
        Assert.Contains(message, reject.Message);
        Assert.Empty(_links.Sent);
    }

    [Fact]
    public async Task Expired_prepare_is_rejected_R00_and_too_short_one_R02()
    {
        var sw = CreateSwitch();
        var expired = Assert.IsType<IlpReject>(await sw.HandleAsync(Prepare(expiresInSeconds: -0.001).Prepare, Alice, default));
        var tooShort = Assert.IsType<IlpReject>(await sw.HandleAsync(Prepare(expiresInSeconds: 1.999).Prepare, Alice, default));
        var justEnough = await sw.HandleAsync(Prepare(expiresInSeconds: 2).Prepare, Alice, default);

        Assert.Equal("R00", expired.Code);
        Assert.Equal("R02", tooShort.Code);
        Assert.NotEqual("R02", (justEnough as IlpReject)?.Code);
        Assert.Single(_links.Sent);
    }

    [Fact]
    public async Task Amount_above_the_peer_maximum_is_rejected_F08_with_both_amounts()
    {
        var sw = CreateSwitch();
        var reject = Assert.IsType<IlpReject>(await sw.HandleAsync(Prepare(amount: 1001).Prepare, Alice, default));
        var atLimit = await sw.HandleAsync(Prepare(amount: 1000).Prepare, Alice, default);

        Assert.Equal("F08", reject.Code);
        Assert.True(IlpRejects.TryReadAmountTooLarge(reject, out ulong received, out ulong maximum));
        Assert.Equal((1001UL, 1000UL), (received, maximum));
        Assert.NotEqual("F08", (atLimit as IlpReject)?.Code);
    }

    [Fact]
    public async Task Disconnected_next_hop_is_rejected_T01()
    {
        _links.Connected = false;
        var reject = Assert.IsType<IlpReject>(await CreateSwitch().HandleAsync(Prepare().Prepare, Alice, default));
        Assert.Equal("T01", reject.Code);
    }

    [Fact]
    public async Task Silent_next_hop_times_out_R00_at_the_outgoing_expiry()
    {
        var silent = new TaskCompletionSource<IlpReply>();
        _links.ReplyAsync = (_, ct) => silent.Task.WaitAsync(ct);
        var pending = CreateSwitch().HandleAsync(Prepare(expiresInSeconds: 10).Prepare, Alice, default).AsTask();

        _time.Advance(TimeSpan.FromSeconds(8.9));
        Assert.False(pending.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(0.2));
        var reject = Assert.IsType<IlpReject>(await pending.WaitAsync(TimeSpan.FromSeconds(5)));

        Assert.Equal("R00", reject.Code);
    }

    [Fact]
    public async Task Downstream_reject_passes_through_unchanged()
    {
        _links.Reply = _ => new IlpReject { Code = "F99", TriggeredBy = "g.bob", Message = "no thanks" };
        var reject = Assert.IsType<IlpReject>(await CreateSwitch().HandleAsync(Prepare().Prepare, Alice, default));
        Assert.Equal(("F99", "g.bob", "no thanks"), (reject.Code, reject.TriggeredBy, reject.Message));
    }

    [Fact]
    public async Task Ildcp_gives_a_child_its_address_and_refuses_other_relations()
    {
        var sw = CreateSwitch();
        var request = Ildcp.CreateRequest(Now.AddSeconds(30));

        var fulfill = Assert.IsType<IlpFulfill>(await sw.HandleAsync(request, Child, default));
        var refused = Assert.IsType<IlpReject>(await sw.HandleAsync(request, Alice, default));

        Assert.True(Ildcp.TryParseResponse(fulfill.Data.Span, out var response));
        Assert.Equal(new IldcpResponse("g.conn.kid", 6, "USD"), response);
        Assert.True(ForwardingStep.FulfillmentMatches(fulfill.Fulfillment.Span, Ildcp.Condition.Span));
        Assert.Equal("F00", refused.Code);
    }

    [Fact]
    public async Task Drain_refuses_new_packets_T03_and_waits_for_in_flight_ones()
    {
        var release = new TaskCompletionSource<IlpReply>();
        var (prepare, fulfillment) = Prepare();
        _links.ReplyAsync = (_, ct) => release.Task.WaitAsync(ct);
        var sw = CreateSwitch();
        var inFlight = sw.HandleAsync(prepare, Alice, default).AsTask();

        var drain = sw.DrainAsync(CancellationToken.None);
        var refused = Assert.IsType<IlpReject>(await sw.HandleAsync(Prepare().Prepare, Alice, default));
        Assert.Equal("T03", refused.Code);
        Assert.False(drain.IsCompleted, $"drain {drain.Status} {drain.Exception} inflight={sw.InFlight} first={inFlight.Status}");

        release.SetResult(new IlpFulfill { Fulfillment = fulfillment });
        Assert.IsType<IlpFulfill>(await inFlight);
        await drain.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(0, sw.InFlight);
    }

    [Fact]
    public async Task A_throwing_step_still_yields_one_T00_reply()
    {
        _links.ReplyAsync = (_, _) => throw new InvalidOperationException("boom");
        var reject = Assert.IsType<IlpReject>(await CreateSwitch().HandleAsync(Prepare().Prepare, Alice, default));
        Assert.Equal("T00", reject.Code);
        Assert.DoesNotContain("boom", reject.Message);
    }

    private sealed class ScriptedLinks : IPeerLinks
    {
        public bool Connected { get; set; } = true;
        public Func<IlpPrepare, IlpReply> Reply { get; set; } = _ => new IlpReject { Code = "F99", TriggeredBy = "", Message = "" };
        public Func<IlpPrepare, CancellationToken, Task<IlpReply>>? ReplyAsync { get; set; }
        public List<(string PeerId, IlpPrepare Prepare)> Sent { get; } = [];

        public bool TryGetLink(string peerId, out IPeerLink? link)
        {
            link = Connected ? new Link(peerId, this) : null;
            return Connected;
        }

        private sealed class Link(string peerId, ScriptedLinks owner) : IPeerLink
        {
            public string PeerId => peerId;

            public async ValueTask<IlpReply> SendPrepareAsync(IlpPrepare prepare, CancellationToken ct)
            {
                lock (owner.Sent) owner.Sent.Add((peerId, prepare));
                return owner.ReplyAsync is { } async ? await async(prepare, ct) : owner.Reply(prepare);
            }
        }
    }
}
