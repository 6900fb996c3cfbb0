using M2M.Core.Switch;
using M2M.Server;
using M2M.Server.Configuration;

namespace M2M.Interop.Tests;

/// <summary>ilp-protocol-ildcp's fetch (peer.config) against our connector.</summary>
[Trait("Tier", "interop")]
public sealed class IldcpTests : IAsyncLifetime
{
    private ConnectorHost _host = null!;
    private NodePeer? _client;

    public async Task InitializeAsync() => _host = await InteropConnector.StartAsync(new ConnectorSettings
    {
        NodeId = "conn",
        IlpAddress = "test.conn",
        Peers =
        [
            new PeerSettings { Id = "alice", AuthToken = "alice-secret", Relation = PeerRelation.Child, AssetCode = "XRP", AssetScale = 6 },
            new PeerSettings { Id = "pete", AuthToken = "pete-secret", Relation = PeerRelation.Peer },
        ],
    });

    public Task DisposeAsync() => InteropConnector.DisposeAllAsync(_host, _client);

    [Fact]
    public async Task Child_learns_its_address_and_asset_from_the_peer_settings()
    {
        _client = NodePeer.Client("alice", _host.BtpPort, "alice", "alice-secret", "--mode", "receive", "--ildcp");

        var ildcp = await _client.WaitForAsync("ildcp");

        Assert.Equal("test.conn.alice", ildcp.Str("clientAddress"));
        Assert.Equal("XRP", ildcp.Str("assetCode"));
        Assert.Equal(6, ildcp.Int("assetScale"));
    }

    [Fact]
    public async Task An_empty_username_logs_in_by_the_token_alone_as_js_configs_write_it()
    {
        // btp+ws://:secret@host: exactly one inbound peer has this token, so it is that peer.
        _client = NodePeer.Client("alice", _host.BtpPort, "", "alice-secret", "--mode", "receive", "--ildcp");

        var ildcp = await _client.WaitForAsync("ildcp");

        Assert.Equal("test.conn.alice", ildcp.Str("clientAddress"));
    }

    [Fact]
    public async Task Non_child_peer_is_refused_and_fetch_fails()
    {
        _client = NodePeer.Client("pete", _host.BtpPort, "pete", "pete-secret", "--mode", "receive", "--ildcp");

        var error = await _client.WaitForAsync("ildcp-error");

        Assert.Equal(5, await _client.WaitForExitAsync());
        Assert.Contains("child", error.Str("message"));
    }
}
