using System.Net.Http.Json;
using System.Text.Json;
using M2M.Core.Switch;
using M2M.Server.Configuration;
using M2M.TestKit;

namespace M2M.Server.Tests;

/// <summary>/health says which ILP address the node runs with and where it came from; with none from any source it says so (and the log says it once).</summary>
[Trait("Tier", "integration")]
public class HealthAddressTests
{
    private static readonly HttpClient Http = new();

    private static async Task<JsonElement> Health(ConnectorHost host) =>
        (await Http.GetFromJsonAsync<JsonElement>($"http://127.0.0.1:{host.HealthPort}/health")).Clone();

    private static async Task<ConnectorHost> Start(ConnectorSettings settings, LogCapture log)
    {
        var host = await ConnectorHost.CreateAsync(TestConnector.WithTempLedger(settings) with { BindAddress = "127.0.0.1", BtpServerPort = 0, HealthCheckPort = 0 }, log.Factory());
        await host.StartAsync(CancellationToken.None);
        return host;
    }

    [Fact]
    public async Task A_configured_address_is_shown_with_its_source_and_no_warning()
    {
        var log = new LogCapture();
        await using var host = await Start(TestConnector.TwoPeers(), log);
        var health = await Health(host);
        Assert.Equal("g.conn", health.GetProperty("ilpAddress").GetString());
        Assert.Equal("configured", health.GetProperty("addressSource").GetString());
        Assert.Equal(JsonValueKind.Null, health.GetProperty("addressWarning").ValueKind);
        Assert.Empty(log.Messages(3101));
    }

    [Fact]
    public async Task No_address_from_any_source_is_said_in_health_and_once_in_the_log()
    {
        var log = new LogCapture();
        await using var host = await Start(new ConnectorSettings
        {
            NodeId = "lonely",
            IlpAddress = "g.lonely",
            IlpAddressIsDefault = true, // as ConfigLoader sets it when the file has no ilpAddress
            Peers = [new PeerSettings { Id = "alice", AuthToken = "alice-secret" }],
        }, log);
        var health = await Health(host);
        Assert.Equal("g.lonely", health.GetProperty("ilpAddress").GetString());
        Assert.Equal("default", health.GetProperty("addressSource").GetString());
        string warning = health.GetProperty("addressWarning").GetString()!;
        Assert.StartsWith("no ILP address: ilpAddress is not configured and no peer has relation parent", warning);
        Assert.Contains("g.lonely", warning);
        await Health(host);
        var line = Assert.Single(log.Messages(3101));
        Assert.Contains("g.lonely", line);
    }

    /// <summary>Our connector at g.top with one child peer, kid.</summary>
    private static Task<ConnectorHost> StartParent() => Start(new ConnectorSettings
    {
        NodeId = "top",
        IlpAddress = "g.top",
        Peers = [new PeerSettings { Id = "kid", AuthToken = "kid-secret", Relation = PeerRelation.Child }],
    }, new LogCapture());

    [Fact]
    public async Task A_child_of_our_own_connector_shows_the_address_its_parent_gave_it()
    {
        await using var parent = await StartParent();
        // Before the parent answers (it is not even dialled yet: the child has not started), the child says it is waiting.
        var childLog = new LogCapture();
        await using var child = await Start(new ConnectorSettings
        {
            NodeId = "kid",
            IlpAddress = "g.kid",
            IlpAddressIsDefault = true,
            Peers = [new PeerSettings { Id = "up", Url = new Uri($"btp+ws://127.0.0.1:{parent.BtpPort}"), AuthToken = "kid-secret", Relation = PeerRelation.Parent }],
        }, childLog);
        await RoutingThroughConnectorTests.WaitUntil(() => child.Routing.AddressSource == M2M.Server.Routing.AddressSource.Parent, seconds: 30);
        var health = await Health(child);
        Assert.Equal("g.top.kid", health.GetProperty("ilpAddress").GetString());
        Assert.Equal("parent", health.GetProperty("addressSource").GetString());
        Assert.Equal(JsonValueKind.Null, health.GetProperty("addressWarning").ValueKind);
        Assert.Empty(childLog.Messages(3101)); // a parent was configured: not the no-address warning
    }

    [Fact]
    public async Task A_parent_added_at_runtime_is_asked_for_our_address()
    {
        await using var parent = await StartParent();
        var childLog = new LogCapture();
        await using var child = await Start(new ConnectorSettings { NodeId = "kid", IlpAddress = "g.kid", IlpAddressIsDefault = true }, childLog);
        Assert.Equal(M2M.Server.Routing.AddressSource.Default, child.Routing.AddressSource);

        // As the admin API and `peers add --relation parent` do: no YAML parent, one added while running.
        await child.PutPeerAsync(new PeerSection { Id = "up", Url = $"btp+ws://127.0.0.1:{parent.BtpPort}", AuthToken = "kid-secret", Relation = "parent" }, CancellationToken.None);
        await RoutingThroughConnectorTests.WaitUntil(() => child.Routing.AddressSource == M2M.Server.Routing.AddressSource.Parent, seconds: 30);
        Assert.Equal("g.top.kid", (await Health(child)).GetProperty("ilpAddress").GetString());
        Assert.Equal("up", child.Routing.Parent);
    }

    [Fact]
    public async Task A_parent_that_never_connects_is_named_in_the_warning()
    {
        var log = new LogCapture();
        await using var host = await Start(new ConnectorSettings
        {
            NodeId = "orphan",
            IlpAddress = "g.orphan",
            IlpAddressIsDefault = true,
            Peers = [new PeerSettings { Id = "up", AuthToken = "up-secret", Relation = PeerRelation.Parent }],
        }, log);
        var health = await Health(host);
        Assert.Equal("default", health.GetProperty("addressSource").GetString());
        Assert.Equal("no ILP address yet: waiting for parent 'up' to answer ILDCP; running as g.orphan until then", health.GetProperty("addressWarning").GetString());
    }
}
