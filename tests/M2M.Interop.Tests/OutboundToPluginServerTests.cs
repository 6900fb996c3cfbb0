using M2M.Core.Switch;
using M2M.Server;
using M2M.Server.Configuration;

namespace M2M.Interop.Tests;

/// <summary>Our BTP client (outbound peer) → an ilp-plugin-btp server (listener).</summary>
[Trait("Tier", "interop")]
public sealed class OutboundToPluginServerTests : IAsyncLifetime
{
    private ConnectorHost? _host;
    private NodePeer? _server;
    private NodePeer? _alice;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => InteropConnector.DisposeAllAsync(_host, _alice, _server);

    [Fact]
    public async Task Connector_dials_the_plugin_server_and_packets_flow_both_ways()
    {
        // The server peer receives our packets, then (after "go") sends its own back through us to alice.
        _server = NodePeer.Start("srv", "btp-server-peer.js", "--port", "0", "--secret", "srv-secret", "--mode", "both",
            "--address", "test.srv", "--wait-for-go", "--count", "10", "--concurrency", "5", "--amount", "7",
            "--destination", "test.conn.alice.inbox");
        int port = (await _server.WaitForAsync("listening")).Int("port");

        _host = await InteropConnector.StartAsync(new ConnectorSettings
        {
            NodeId = "conn",
            IlpAddress = "test.conn",
            Peers =
            [
                new PeerSettings { Id = "srv", Url = new Uri($"ws://127.0.0.1:{port}/"), AuthToken = "srv-secret" },
                new PeerSettings { Id = "alice", AuthToken = "alice-secret", Relation = PeerRelation.Child },
            ],
            Routes = [new("test.srv", "srv")],
        });

        var connected = await _server.WaitForAsync("connected");
        Assert.Equal("conn", connected.Str("authUsername"));
        Assert.Equal(["auth", "auth_username", "auth_token"], connected.GetProperty("protocolNames").EnumerateArray().Select(e => e.GetString()));
        await InteropConnector.WaitUntil(() => _host.Peers.IsConnected("srv"), "srv connected", diagnostics: _server.Diagnostics);

        _alice = NodePeer.Client("alice", _host.BtpPort, "alice", "alice-secret", "--mode", "both", "--address", "test.conn.alice",
            "--count", "20", "--concurrency", "5", "--amount", "500", "--destination", "test.srv.bob");
        var done = await _alice.WaitForAsync("done");
        Assert.True(done.Int("fulfilled") == 20 && done.Int("sent") == 20, done.GetRawText() + _alice.Diagnostics() + _server.Diagnostics());
        var received = await _server.WaitForCountAsync("received", 20);
        Assert.All(received, r =>
        {
            Assert.True(r.Bool("conditionMatches"), r.GetRawText());
            Assert.Equal(("500", "test.srv.bob"), (r.Str("amount"), r.Str("destination")));
        });

        // Reverse direction over the same outbound link: the server's Prepares reach alice via our connector.
        await _server.SendLineAsync("go");
        var serverDone = await _server.WaitForAsync("done");
        Assert.True(serverDone.Int("fulfilled") == 10, serverDone.GetRawText() + _server.Diagnostics() + _alice.Diagnostics());
        Assert.All(_server.EventsNamed("reply"), r => Assert.True(r.Bool("fulfillmentOk"), r.GetRawText()));
        var aliceReceived = await _alice.WaitForCountAsync("received", 10);
        Assert.All(aliceReceived, r => Assert.Equal(("7", "test.conn.alice.inbox", true), (r.Str("amount"), r.Str("destination"), r.Bool("conditionMatches"))));
    }
}
