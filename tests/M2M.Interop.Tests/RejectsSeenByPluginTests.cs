using M2M.Core.Switch;
using M2M.Server;
using M2M.Server.Configuration;

namespace M2M.Interop.Tests;

/// <summary>Rejects as an ilp-plugin-btp sender decodes them.</summary>
[Trait("Tier", "interop")]
public sealed class RejectsSeenByPluginTests : IAsyncLifetime
{
    private ConnectorHost _host = null!;
    private NodePeer? _alice;
    private NodePeer? _bob;

    public async Task InitializeAsync() => _host = await InteropConnector.StartAsync(new ConnectorSettings
    {
        NodeId = "conn",
        IlpAddress = "test.conn",
        Peers =
        [
            new PeerSettings { Id = "alice", AuthToken = "alice-secret", Relation = PeerRelation.Child, MaxPacketAmount = 1000 },
            new PeerSettings { Id = "bob", AuthToken = "bob-secret", Relation = PeerRelation.Child },
        ],
    });

    public Task DisposeAsync() => InteropConnector.DisposeAllAsync(_host, _alice, _bob);

    private async Task<System.Text.Json.JsonElement> SendOneAsync(string destination, string amount, int expiryMs = 30_000)
    {
        _alice = NodePeer.Client("alice", _host.BtpPort, "alice", "alice-secret", "--mode", "send", "--destination", destination, "--amount", amount,
            "--expiry-ms", expiryMs.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var reply = await _alice.WaitForAsync("reply");
        Assert.True(reply.Str("type") == "reject", reply.GetRawText() + _alice.Diagnostics());
        return reply;
    }

    [Fact]
    public async Task No_route_is_F02_from_the_connector()
    {
        var reply = await SendOneAsync("test.nowhere.x", "1");
        Assert.Equal(("F02", "test.conn"), (reply.Str("code"), reply.Str("triggeredBy")));
    }

    [Fact]
    public async Task Amount_above_max_packet_amount_is_F08_with_both_amounts_in_the_data()
    {
        _bob = NodePeer.Client("bob", _host.BtpPort, "bob", "bob-secret", "--mode", "receive");
        await _bob.WaitForAsync("connected");

        var reply = await SendOneAsync("test.conn.bob.x", "1001");

        Assert.Equal(("F08", "test.conn"), (reply.Str("code"), reply.Str("triggeredBy")));
        // ilp-packet AmountTooLargeError data: UInt64BE(received) || UInt64BE(maximum)
        Assert.Equal("00000000000003e9" + "00000000000003e8", reply.Str("data"));
        Assert.Empty(_bob.EventsNamed("received"));
    }

    [Fact]
    public async Task Receivers_F99_is_passed_through_unchanged()
    {
        _bob = NodePeer.Client("bob", _host.BtpPort, "bob", "bob-secret", "--mode", "receive", "--address", "test.conn.bob",
            "--reject-code", "F99", "--reject-message", "bob says no");
        await _bob.WaitForAsync("connected");
        await InteropConnector.WaitUntil(() => _host.Peers.IsConnected("bob"), "bob attached", diagnostics: _bob.Diagnostics);

        var reply = await SendOneAsync("test.conn.bob.x", "1000");

        Assert.Equal(("F99", "test.conn.bob", "bob says no"), (reply.Str("code"), reply.Str("triggeredBy"), reply.Str("message")));
        Assert.Single(_bob.EventsNamed("received"));
    }

    [Fact]
    public async Task Next_hop_not_connected_is_T01_from_the_connector()
    {
        var reply = await SendOneAsync("test.conn.bob.x", "1");
        Assert.Equal(("T01", "test.conn"), (reply.Str("code"), reply.Str("triggeredBy")));
    }

    [Fact]
    public async Task Expiry_too_close_to_forward_is_R02()
    {
        _bob = NodePeer.Client("bob", _host.BtpPort, "bob", "bob-secret", "--mode", "receive");
        await _bob.WaitForAsync("connected");

        // 1.8 s left minus the 1 s expiry margin leaves less than the margin for bob.
        var reply = await SendOneAsync("test.conn.bob.x", "1", expiryMs: 1800);

        Assert.Equal(("R02", "test.conn"), (reply.Str("code"), reply.Str("triggeredBy")));
        Assert.Empty(_bob.EventsNamed("received"));
    }
}
