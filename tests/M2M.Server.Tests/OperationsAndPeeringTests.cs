using M2M.TestKit;
using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using M2M.Btp;
using M2M.Core.Ilp;
using M2M.Core.Routing;
using M2M.Server.Configuration;

namespace M2M.Server.Tests;

[Trait("Tier", "integration")]
public class OperationsAndPeeringTests
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private static async Task<(HttpStatusCode, JsonElement)> GetJson(ConnectorHost host, string path)
    {
        using var response = await Http.GetAsync($"http://127.0.0.1:{host.HealthPort}{path}");
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, doc.RootElement.Clone());
    }

    [Fact]
    public async Task Health_goes_from_degraded_to_healthy_as_peers_connect_and_metrics_count_packets()
    {
        await using var host = await TestConnector.StartAsync(TestConnector.TwoPeers());
        var (code, health) = await GetJson(host, "/health");
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("degraded", health.GetProperty("status").GetString());
        Assert.Equal((0, 2), (health.GetProperty("peersConnected").GetInt32(), health.GetProperty("totalPeers").GetInt32()));
        Assert.Equal("conn", health.GetProperty("nodeId").GetString());
        Assert.True(health.TryGetProperty("dependencies", out _));

        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        for (int i = 0; i < 3; i++) await alice.SendAsync(TestPeer.Payment("g.bob.x"));
        await alice.SendAsync(TestPeer.Payment("g.nowhere.x"));

        (code, health) = await GetJson(host, "/health");
        Assert.Equal("healthy", health.GetProperty("status").GetString());
        Assert.All(health.GetProperty("peers").EnumerateArray(), p => Assert.True(p.GetProperty("connected").GetBoolean()));
        Assert.Equal(0.75, health.GetProperty("sla").GetProperty("packetSuccessRate").GetDouble());

        string metrics = await Http.GetStringAsync($"http://127.0.0.1:{host.HealthPort}/metrics");
        Assert.Contains("ilp_packets_processed_total{type=\"prepare\",status=\"fulfilled\",code=\"\"} 3", metrics);
        Assert.Contains("ilp_packets_processed_total{type=\"prepare\",status=\"rejected\",code=\"F02\"} 1", metrics);
        Assert.Contains("ilp_packet_latency_seconds_count{type=\"prepare\"} 4", metrics);
        Assert.Contains("ilp_packets_in_flight 0", metrics);
        Assert.Contains("settlements_pending 0", metrics);
        Assert.Contains("process_cpu_seconds_total", metrics);
    }

    /// <summary>
    /// CONTRACT.md names the 1.x label sets and /health fields; ours add labels (code, asset_code/asset_scale, asset)
    /// and fields (ilpAddress, addressSource, addressWarning). Additions only: every contract label and field is
    /// still there, so a selector or a jq path written against the contract still matches.
    /// </summary>
    [Fact]
    public async Task Every_contract_label_and_health_field_is_still_exported_beside_ours()
    {
        await using var host = await TestConnector.StartAsync(TestConnector.TwoPeers());
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        await alice.SendAsync(TestPeer.Payment("g.bob.x"));

        string metrics = await Http.GetStringAsync($"http://127.0.0.1:{host.HealthPort}/metrics");
        var contract = new (string Name, string[] Labels, string[] Ours)[]
        {
            ("ilp_packets_processed_total", ["type", "status"], ["code"]),
            ("account_balance_units", ["peer_id", "token_id"], ["asset_code", "asset_scale"]),
            ("settlements_executed_total", ["method", "status"], []),
            ("connector_errors_total", ["type", "severity"], []),
        };
        foreach (var (name, labels, ours) in contract)
        {
            var series = metrics.Split('\n').Where(l => l.StartsWith(name + "{", StringComparison.Ordinal)).ToList();
            if (name is "ilp_packets_processed_total" or "account_balance_units") Assert.NotEmpty(series);
            foreach (var line in series)
                foreach (var label in labels.Concat(ours)) Assert.Contains($"{label}=\"", line[..line.IndexOf('}', StringComparison.Ordinal)]);
        }

        var (_, health) = await GetJson(host, "/health");
        foreach (var field in new[] { "status", "uptime", "peersConnected", "totalPeers", "peers", "timestamp", "nodeId", "version", "dependencies", "sla", "ilpAddress", "addressSource", "addressWarning" })
            Assert.True(health.TryGetProperty(field, out _), $"/health has no {field}");
        foreach (var peer in health.GetProperty("peers").EnumerateArray())
            foreach (var field in new[] { "id", "connected", "relation" }) Assert.True(peer.TryGetProperty(field, out _), $"/health peers[] has no {field}");
        Assert.True(health.GetProperty("dependencies").GetProperty("ledger").TryGetProperty("latencyMs", out _));
        foreach (var field in new[] { "packetSuccessRate", "settlementSuccessRate", "p99LatencyMs" })
            Assert.True(health.GetProperty("sla").TryGetProperty(field, out _), $"/health sla has no {field}");
    }

    [Fact]
    public async Task Live_and_ready_answer_and_ready_turns_503_when_stopping()
    {
        var host = await TestConnector.StartAsync(TestConnector.TwoPeers());
        var (liveCode, live) = await GetJson(host, "/health/live");
        var (readyCode, ready) = await GetJson(host, "/health/ready");
        Assert.Equal((HttpStatusCode.OK, "alive"), (liveCode, live.GetProperty("status").GetString()));
        Assert.Equal((HttpStatusCode.OK, "ready"), (readyCode, ready.GetProperty("status").GetString()));
        await host.DisposeAsync();
        Assert.Equal(ConnectorState.Stopped, host.State);
    }

    [Fact]
    public async Task Two_connectors_peer_over_an_outgoing_BTP_connection()
    {
        var edge = TestConnector.TwoPeers() with
        {
            NodeId = "edge",
            IlpAddress = "g.edge",
            Peers = [new PeerSettings { Id = "bob", AuthToken = "bob-secret" }, new PeerSettings { Id = "core", AuthToken = "core-to-edge" }],
            Routes = [new Route("g.bob", "bob"), new Route("g", "core")],
        };
        await using var edgeHost = await TestConnector.StartAsync(edge);
        var core = TestConnector.TwoPeers() with
        {
            Peers =
            [
                new PeerSettings { Id = "alice", AuthToken = "alice-secret" },
                new PeerSettings { Id = "edge", Url = new Uri($"ws://127.0.0.1:{edgeHost.BtpPort}/"), AuthToken = "core-to-edge" },
            ],
            Routes = [new Route("g.alice", "alice"), new Route("g.bob", "edge")],
            NodeId = "core",
        };
        await using var coreHost = await TestConnector.StartAsync(core);
        await RoutingThroughConnectorTests.WaitUntil(() => coreHost.Peers.IsConnected("edge") && edgeHost.Peers.IsConnected("core"));
        await using var alice = await TestPeer.ConnectAsync(coreHost.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(edgeHost.BtpPort, "bob", "bob-secret");

        var prepare = TestPeer.Payment("g.bob.shop", 777, expiresInSeconds: 10);
        Assert.IsType<IlpFulfill>(await alice.SendAsync(prepare));
        var received = Assert.Single(bob.Received);
        Assert.Equal(prepare.ExpiresAt.AddSeconds(-2), received.ExpiresAt);
        // And back the other way, through the default route.
        Assert.IsType<IlpFulfill>(await bob.SendAsync(TestPeer.Payment("g.alice.home")));
    }

    [Fact]
    public async Task Outgoing_peer_reconnects_after_the_other_side_restarts()
    {
        // The edge restarts on the same BTP port: a claimed one below the ephemeral range, not port 0's answer, which
        // another process's outgoing connection could take while the edge is down (then the restart cannot bind it).
        int port = LoopbackPort.Free();
        var edge = TestConnector.WithTempLedger(TestConnector.TwoPeers() with { NodeId = "edge", Peers = [new PeerSettings { Id = "core", AuthToken = "t" }], Routes = [] });
        edge = edge with { BindAddress = "127.0.0.1", BtpServerPort = port, HealthCheckPort = 0 };
        var edgeHost = await ConnectorHost.CreateAsync(edge, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        await edgeHost.StartAsync(CancellationToken.None);
        var core = TestConnector.TwoPeers() with { NodeId = "core", Peers = [new PeerSettings { Id = "edge", Url = new Uri($"ws://127.0.0.1:{port}/"), AuthToken = "t" }], Routes = [] };
        await using var coreHost = await TestConnector.StartAsync(core);
        await RoutingThroughConnectorTests.WaitUntil(() => coreHost.Peers.IsConnected("edge"));

        await edgeHost.DisposeAsync();
        await RoutingThroughConnectorTests.WaitUntil(() => !coreHost.Peers.IsConnected("edge"));
        await using var restarted = await ConnectorHost.CreateAsync(edge, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        await restarted.StartAsync(CancellationToken.None);

        await RoutingThroughConnectorTests.WaitUntil(() => coreHost.Peers.IsConnected("edge"), seconds: 20);
    }
}

/// <summary>Hostile or broken BTP clients: each is refused and the connector keeps serving the others.</summary>
[Trait("Tier", "integration")]
public class HostileBtpClientTests : IAsyncLifetime
{
    private ConnectorHost _host = null!;
    private TestPeer _alice = null!;
    private TestPeer _bob = null!;

    public async Task InitializeAsync()
    {
        var settings = TestConnector.TwoPeers();
        settings = settings with
        {
            BtpAuthTimeout = TimeSpan.FromMilliseconds(500),
            Peers = [.. settings.Peers, new PeerSettings { Id = "carol", AuthToken = "carol-secret" }],
        };
        _host = await TestConnector.StartAsync(settings);
        _alice = await TestPeer.ConnectAsync(_host.BtpPort, "alice", "alice-secret");
        _bob = await TestPeer.ConnectAsync(_host.BtpPort, "bob", "bob-secret");
    }

    public async Task DisposeAsync()
    {
        await _alice.DisposeAsync();
        await _bob.DisposeAsync();
        await _host.DisposeAsync();
    }

    private async Task<ClientWebSocket> RawSocket()
    {
        var ws = new ClientWebSocket();
        await ws.ConnectAsync(new Uri($"ws://127.0.0.1:{_host.BtpPort}/"), CancellationToken.None);
        return ws;
    }

    private static async Task<(BtpPacket? Packet, WebSocketCloseStatus? Close)> Receive(ClientWebSocket ws)
    {
        var buffer = new byte[70_000];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var result = await ws.ReceiveAsync(buffer, timeout.Token);
        if (result.MessageType == WebSocketMessageType.Close) return (null, result.CloseStatus);
        BtpCodec.TryDecode(buffer.AsMemory(0, result.Count), out var packet, out _);
        return (packet, null);
    }

    private static byte[] Auth(string user, string token) => BtpCodec.Encode(BtpPacket.Message(1,
    [
        new BtpProtocolData("auth", BtpContentType.ApplicationOctetStream, ReadOnlyMemory<byte>.Empty),
        new BtpProtocolData("auth_username", BtpContentType.TextPlainUtf8, System.Text.Encoding.UTF8.GetBytes(user)),
        new BtpProtocolData("auth_token", BtpContentType.TextPlainUtf8, System.Text.Encoding.UTF8.GetBytes(token)),
    ]));

    private async Task StillServing() => Assert.IsType<IlpFulfill>(await _alice.SendAsync(TestPeer.Payment("g.bob.x")));

    [Theory]
    [InlineData("alice", "wrong-token")]
    [InlineData("mallory", "alice-secret")]
    [InlineData("", "")]
    public async Task Wrong_credentials_get_a_BTP_error_and_a_close(string user, string token)
    {
        using var ws = await RawSocket();
        await ws.SendAsync(Auth(user, token), WebSocketMessageType.Binary, true, CancellationToken.None);

        var (packet, _) = await Receive(ws);
        Assert.Equal(BtpPacketType.Error, packet?.Type);
        Assert.Equal("F00", packet!.Code);
        Assert.DoesNotContain(token.Length > 0 ? token : "\u0000", System.Text.Encoding.UTF8.GetString(packet.ErrorData.Span));
        var (_, close) = await Receive(ws);
        Assert.NotNull(close);
        Assert.True(_host.Peers.IsConnected("alice"));
        await StillServing();
    }

    [Fact]
    public async Task A_second_session_for_a_peer_replaces_the_first()
    {
        using var first = await RawSocket();
        await first.SendAsync(Auth("carol", "carol-secret"), WebSocketMessageType.Binary, true, CancellationToken.None);
        Assert.Equal(BtpPacketType.Response, (await Receive(first)).Packet?.Type);
        using var second = await RawSocket();
        await second.SendAsync(Auth("carol", "carol-secret"), WebSocketMessageType.Binary, true, CancellationToken.None);
        Assert.Equal(BtpPacketType.Response, (await Receive(second)).Packet?.Type);

        (BtpPacket? Packet, WebSocketCloseStatus? Close) frame;
        do frame = await Receive(first); while (frame.Close is null);
        Assert.Equal(WebSocketState.Open, second.State);
        Assert.True(_host.Peers.IsConnected("carol"));
    }

    [Fact]
    public async Task Garbage_first_frame_is_refused()
    {
        using var ws = await RawSocket();
        await ws.SendAsync(new byte[] { 0xde, 0xad, 0xbe, 0xef, 0x01 }, WebSocketMessageType.Binary, true, CancellationToken.None);
        var first = await Receive(ws);
        Assert.True(first.Packet?.Type == BtpPacketType.Error || first.Close is not null);
        await StillServing();
    }

    [Fact]
    public async Task Silent_client_is_closed_after_the_auth_timeout()
    {
        using var ws = await RawSocket();
        var started = DateTime.UtcNow;
        (BtpPacket? Packet, WebSocketCloseStatus? Close) frame;
        do frame = await Receive(ws); while (frame.Close is null);
        Assert.InRange((DateTime.UtcNow - started).TotalSeconds, 0.3, 4);
        await StillServing();
    }

    [Fact]
    public async Task Oversize_frame_closes_with_1009()
    {
        using var ws = await RawSocket();
        await ws.SendAsync(Auth("carol", "carol-secret"), WebSocketMessageType.Binary, true, CancellationToken.None);
        Assert.Equal(BtpPacketType.Response, (await Receive(ws)).Packet?.Type);
        Assert.True(_host.Peers.IsConnected("carol"));

        await ws.SendAsync(new byte[65 * 1024], WebSocketMessageType.Binary, true, CancellationToken.None);
        (BtpPacket? Packet, WebSocketCloseStatus? Close) frame;
        do frame = await Receive(ws); while (frame.Close is null);
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, frame.Close);
        await RoutingThroughConnectorTests.WaitUntil(() => !_host.Peers.IsConnected("carol"));
        await StillServing();
    }

    [Fact]
    public async Task Plain_http_request_on_the_BTP_port_gets_426()
    {
        using var http = new HttpClient();
        using var response = await http.GetAsync($"http://127.0.0.1:{_host.BtpPort}/");
        Assert.Equal((HttpStatusCode)426, response.StatusCode);
    }
}
