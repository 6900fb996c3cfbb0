using M2M.TestKit;
using M2M.Core.Ilp;

namespace M2M.Server.Tests;

/// <summary>One connector, two BTP peers over real WebSockets on 127.0.0.1.</summary>
[Trait("Tier", "integration")]
public class RoutingThroughConnectorTests : IAsyncLifetime
{
    private ConnectorHost _host = null!;
    private TestPeer _alice = null!;
    private TestPeer _bob = null!;

    public async Task InitializeAsync()
    {
        _host = await TestConnector.StartAsync(TestConnector.TwoPeers(aliceMax: 1_000_000));
        _alice = await TestPeer.ConnectAsync(_host.BtpPort, "alice", "alice-secret");
        _bob = await TestPeer.ConnectAsync(_host.BtpPort, "bob", "bob-secret");
    }

    public async Task DisposeAsync()
    {
        await _alice.DisposeAsync();
        await _bob.DisposeAsync();
        await _host.DisposeAsync();
    }

    [Fact]
    public async Task Prepare_from_alice_reaches_bob_and_his_fulfill_comes_back()
    {
        var prepare = TestPeer.Payment("g.bob.wallet", amount: 12_345, expiresInSeconds: 10);

        var fulfill = Assert.IsType<IlpFulfill>(await _alice.SendAsync(prepare));

        Assert.Equal(prepare.Data.ToArray(), fulfill.Fulfillment.ToArray());
        var received = Assert.Single(_bob.Received);
        Assert.Equal(12_345UL, received.Amount);
        Assert.Equal("g.bob.wallet", received.Destination);
        // Expiry shortened by the 1 s margin (to the millisecond of the wire format).
        Assert.Equal(prepare.ExpiresAt.AddSeconds(-1), received.ExpiresAt);
    }

    [Fact]
    public async Task Both_directions_and_many_concurrent_packets_are_matched_to_their_replies()
    {
        var fromAlice = Enumerable.Range(0, 200).Select(i => _alice.SendAsync(TestPeer.Payment("g.bob.x", (ulong)i + 1)));
        var fromBob = Enumerable.Range(0, 200).Select(i => _bob.SendAsync(TestPeer.Payment("g.alice.y", (ulong)i + 1)));

        var replies = await Task.WhenAll(fromAlice.Concat(fromBob));

        Assert.All(replies, r => Assert.IsType<IlpFulfill>(r));
        Assert.Equal(200, _bob.Received.Count);
        Assert.Equal(200, _alice.Received.Count);
        Assert.Equal(Enumerable.Range(1, 200).Sum(), _bob.Received.Sum(p => (long)p.Amount));
    }

    [Fact]
    public async Task Unknown_destination_is_rejected_F02_by_the_connector()
    {
        var reject = Assert.IsType<IlpReject>(await _alice.SendAsync(TestPeer.Payment("g.nobody.x")));
        Assert.Equal(("F02", "g.conn"), (reject.Code, reject.TriggeredBy));
    }

    [Fact]
    public async Task Expired_prepare_is_rejected_R00_without_reaching_bob()
    {
        var reject = Assert.IsType<IlpReject>(await _alice.SendAsync(TestPeer.Payment("g.bob.x", expiresInSeconds: -1)));
        Assert.Equal("R00", reject.Code);
        Assert.Empty(_bob.Received);
    }

    [Fact]
    public async Task Amount_over_the_maximum_is_rejected_F08()
    {
        var reject = Assert.IsType<IlpReject>(await _alice.SendAsync(TestPeer.Payment("g.bob.x", amount: 1_000_001)));
        Assert.Equal("F08", reject.Code);
        Assert.True(IlpRejects.TryReadAmountTooLarge(reject, out ulong received, out ulong max));
        Assert.Equal((1_000_001UL, 1_000_000UL), (received, max));
    }

    [Fact]
    public async Task Wrong_fulfillment_from_bob_is_rejected_F05_upstream()
    {
        _bob.OnPrepare = _ => Task.FromResult<IlpReply>(new IlpFulfill { Fulfillment = new byte[32] });
        var reject = Assert.IsType<IlpReject>(await _alice.SendAsync(TestPeer.Payment("g.bob.x")));
        Assert.Equal("F05", reject.Code);
    }

    [Fact]
    public async Task Silent_bob_makes_the_packet_time_out_R00_at_the_shortened_expiry()
    {
        _bob.OnPrepare = async _ =>
        {
            await Task.Delay(TimeSpan.FromSeconds(20));
            return new IlpReject { Code = "F99", TriggeredBy = "", Message = "late" };
        };
        var started = DateTimeOffset.UtcNow;

        var reject = Assert.IsType<IlpReject>(await _alice.SendAsync(TestPeer.Payment("g.bob.x", expiresInSeconds: 2.5)));

        Assert.Equal("R00", reject.Code);
        // Answered at the outgoing expiry (~1.5 s), and in any case before the sender's own 2.5 s expiry.
        var elapsed = DateTimeOffset.UtcNow - started;
        Assert.InRange(elapsed.TotalSeconds, 1.2, 2.5);
    }

    [Fact]
    public async Task Invalid_destination_is_rejected_F01_and_the_session_keeps_working()
    {
        var valid = IlpEncoder.ToArray(TestPeer.Payment("g.bob.x"));
        var broken = (byte[])valid.Clone();
        int destination = Array.IndexOf(broken, (byte)'g', 8 + 17 + 32);
        broken[destination] = (byte)'?';

        IlpCodec.TryDecode(await _alice.SendRawAsync(broken), out var packet, out _);
        var reject = Assert.IsType<IlpReject>(packet);
        Assert.Equal("F01", reject.Code);
        Assert.Contains("destination", reject.Message);

        Assert.IsType<IlpFulfill>(await _alice.SendAsync(TestPeer.Payment("g.bob.x")));
    }

    [Fact]
    public async Task Garbage_ilp_bytes_are_rejected_F01()
    {
        IlpCodec.TryDecode(await _alice.SendRawAsync([0x0c, 0x05, 1, 2, 3]), out var packet, out _);
        Assert.Equal("F01", Assert.IsType<IlpReject>(packet).Code);
    }

    [Fact]
    public async Task Disconnected_next_hop_is_rejected_T01()
    {
        await _bob.DisposeAsync();
        await WaitUntil(() => !_host.Peers.IsConnected("bob"));

        var reject = Assert.IsType<IlpReject>(await _alice.SendAsync(TestPeer.Payment("g.bob.x")));
        Assert.Equal("T01", reject.Code);
    }

    internal static async Task WaitUntil(Func<bool> condition, double seconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met in time");
            await Task.Delay(20);
        }
    }
}
