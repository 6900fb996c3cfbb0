using M2M.Core.Switch;
using M2M.Server;
using M2M.Server.Configuration;

namespace M2M.Interop.Tests;

/// <summary>BTP auth as ilp-plugin-btp clients experience it.</summary>
[Trait("Tier", "interop")]
public sealed class AuthTests : IAsyncLifetime
{
    private ConnectorHost _host = null!;
    private readonly List<NodePeer> _peers = [];

    public async Task InitializeAsync() => _host = await InteropConnector.StartAsync(new ConnectorSettings
    {
        NodeId = "conn",
        IlpAddress = "test.conn",
        Peers =
        [
            new PeerSettings { Id = "alice", AuthToken = "alice-secret", Relation = PeerRelation.Child },
            new PeerSettings { Id = "bob", AuthToken = "bob-secret", Relation = PeerRelation.Child },
            new PeerSettings { Id = "carol", AuthToken = "p@ss:w%rd/#1", Relation = PeerRelation.Child },
        ],
    });

    public Task DisposeAsync() => InteropConnector.DisposeAllAsync(_host, [.. _peers]);

    private NodePeer Client(string name, string user, string token, params string[] args)
    {
        var peer = NodePeer.Client(name, _host.BtpPort, user, token, args);
        _peers.Add(peer);
        return peer;
    }

    [Fact]
    public async Task Wrong_token_and_unknown_user_are_refused_while_the_real_alice_keeps_working()
    {
        var bob = Client("bob", "bob", "bob-secret", "--mode", "receive");
        var alice = Client("alice", "alice", "alice-secret", "--wait-for-go", "--count", "10", "--concurrency", "5", "--destination", "test.conn.bob.x");
        await bob.WaitForAsync("connected");
        await alice.WaitForAsync("waiting-for-go");
        await InteropConnector.WaitUntil(() => _host.Peers.IsConnected("alice") && _host.Peers.IsConnected("bob"), "alice and bob attached");

        var impostor = Client("impostor", "alice", "not-the-secret");
        var stranger = Client("stranger", "mallory", "alice-secret");

        foreach (var refused in new[] { impostor, stranger })
        {
            int code = await refused.WaitForExitAsync();
            var exit = refused.EventsNamed("exit").LastOrDefault();
            Assert.True(code == 4 && exit.ValueKind != System.Text.Json.JsonValueKind.Undefined && exit.Str("reason") == "auth-failed", refused.Diagnostics());
            Assert.Empty(refused.EventsNamed("connected"));
        }

        Assert.True(_host.Peers.IsConnected("alice"), "a refused login as alice must not replace the real alice" + alice.Diagnostics());
        await alice.SendLineAsync("go");
        var done = await alice.WaitForAsync("done");
        Assert.True(done.Int("fulfilled") == 10, done.GetRawText() + alice.Diagnostics() + bob.Diagnostics());
        Assert.Single(alice.EventsNamed("connected"));
    }

    [Fact]
    public async Task Percent_encoded_token_from_the_url_is_accepted()
    {
        // ilp-plugin-btp sends the URL userinfo still percent-encoded: auth_token "p%40ss%3Aw%25rd%2F%231".
        var carol = Client("carol", "carol", Uri.EscapeDataString("p@ss:w%rd/#1"), "--mode", "receive", "--ildcp");

        var ildcp = await carol.WaitForAsync("ildcp");

        Assert.Equal("test.conn.carol", ildcp.Str("clientAddress"));
    }
}
