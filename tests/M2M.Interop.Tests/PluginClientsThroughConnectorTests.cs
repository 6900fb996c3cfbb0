using M2M.Core.Switch;
using M2M.Server;
using M2M.Server.Configuration;

namespace M2M.Interop.Tests;

/// <summary>ilp-plugin-btp client → our connector → ilp-plugin-btp client, both clients connecting inbound.</summary>
[Trait("Tier", "interop")]
public sealed class PluginClientsThroughConnectorTests : IAsyncLifetime
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
            new PeerSettings { Id = "alice", AuthToken = "alice-secret", Relation = PeerRelation.Child },
            new PeerSettings { Id = "bob", AuthToken = "bob-secret", Relation = PeerRelation.Child },
        ],
    });

    public Task DisposeAsync() => InteropConnector.DisposeAllAsync(_host, _alice, _bob);

    [Fact]
    public async Task Fifty_concurrent_packets_from_alice_are_fulfilled_by_bob()
    {
        _bob = NodePeer.Client("bob", _host.BtpPort, "bob", "bob-secret", "--mode", "receive", "--address", "test.conn.bob");
        await _bob.WaitForAsync("connected");
        await InteropConnector.WaitUntil(() => _host.Peers.IsConnected("bob"), "bob attached", diagnostics: _bob.Diagnostics);

        var sendStarted = DateTimeOffset.UtcNow;
        _alice = NodePeer.Client("alice", _host.BtpPort, "alice", "alice-secret",
            "--mode", "send", "--count", "50", "--concurrency", "10", "--amount", "1234", "--expiry-ms", "20000",
            "--destination", "test.conn.bob.wallet");
        var done = await _alice.WaitForAsync("done");
        Assert.Equal(0, await _alice.WaitForExitAsync());

        string diag = _alice.Diagnostics() + _bob.Diagnostics();
        Assert.True(done.Int("sent") == 50 && done.Int("fulfilled") == 50 && done.Int("rejected") == 0 && done.Int("errors") == 0, "done: " + done.GetRawText() + diag);
        var replies = _alice.EventsNamed("reply");
        Assert.Equal(50, replies.Count);
        Assert.All(replies, r => Assert.True(r.Str("type") == "fulfill" && r.Bool("fulfillmentOk"), r.GetRawText()));

        var received = await _bob.WaitForCountAsync("received", 50);
        Assert.Equal(50, received.Count);
        foreach (var r in received)
        {
            Assert.True(r.Bool("conditionMatches"), r.GetRawText());
            Assert.Equal("fulfill", r.Str("result"));
            Assert.Equal("1234", r.Str("amount"));
            Assert.Equal("test.conn.bob.wallet", r.Str("destination"));
            Assert.Equal(32, r.Int("dataLength"));
            // alice asked for now+20 s; we forward with the expiry shortened by the 1 s margin.
            var expiresAt = DateTimeOffset.Parse(r.Str("expiresAt"), System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(expiresAt, sendStarted.AddSeconds(10), DateTimeOffset.UtcNow.AddSeconds(19.5));
        }
    }
}
