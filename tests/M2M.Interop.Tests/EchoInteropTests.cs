using System.Security.Cryptography;
using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Core.Switch;
using M2M.Server;
using M2M.Server.Configuration;
using M2M.TestKit;

namespace M2M.Interop.Tests;

/// <summary>
/// Echo between ours and the JavaScript ilp-connector 23 (its echo middleware), routes by CCP only: a JS client
/// pings our address and gets its echo back through us; our client pings the JS node's address and gets the JS
/// node's echo back through us. Both sides parse the other's bytes.
/// </summary>
[Trait("Tier", "interop")]
public sealed class EchoInteropTests : IAsyncLifetime
{
    private static readonly RoutingSettings FastRouting = new() { BroadcastInterval = TimeSpan.FromSeconds(1), RouteExpiry = TimeSpan.FromSeconds(5) };
    private JsNode? _js;
    private ConnectorHost? _host;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        try
        {
            if (_js is not null) await _js.DisposeAsync();
        }
        finally
        {
            if (_host is not null) await _host.DisposeAsync();
        }
    }

    [Fact]
    public async Task Pings_cross_between_ours_and_the_js_connector_both_ways()
    {
        int port = JsNode.FreePort();
        var jsStart = JsNode.StartAsync("js-echo", new
        {
            ilpAddress = "test.js",
            accounts = new { m2m = new { relation = "peer", listen = new { port, secret = "m2m-secret" } } },
            pinger = new { port = JsNode.FreePort() },
        });
        var hostStart = InteropConnector.StartAsync(new ConnectorSettings
        {
            NodeId = "ours",
            IlpAddress = "test.ours",
            Routing = FastRouting,
            Peers =
            [
                new PeerSettings { Id = "js", Url = new Uri($"btp+ws://127.0.0.1:{port}"), AuthToken = "m2m-secret" },
                new PeerSettings { Id = "alice", AuthToken = "alice-secret", Relation = PeerRelation.Child },
            ],
        });
        await Task.WhenAll(jsStart, hostStart);
        (_js, _host) = (await jsStart, await hostStart);
        await InteropConnector.WaitUntil(() => _host.Routes.Lookup("test.js.pinger")?.NextHop == "js", "ours learns test.js", 20);
        await _js.WaitForRoutesAsync(r => r.GetValueOrDefault("test.ours") == "m2m", "js learns test.ours");

        // JS pinger → test.ours: our echo goes back to test.js.pinger through the JS node, which fulfills it.
        var ping = await _js.PingAsync("test.ours", 1_000);
        Assert.True(ping.Fulfilled, $"{ping.Code} {ping.Message}");
        Assert.Equal(1, ping.Echoes);

        // Our client (child alice, test.ours.alice) → test.js: the JS node's echo comes back to alice through us.
        await using var alice = await TestPeer.ConnectAsync(_host.BtpPort, "alice", "alice-secret");
        var fulfillment = RandomNumberGenerator.GetBytes(32);
        alice.OnPrepare = p => Task.FromResult<IlpReply>(IlpEcho.IsResponse(p.Data.Span) && p.Destination == "test.ours.alice"
            ? new IlpFulfill { Fulfillment = fulfillment }
            : IlpRejects.Create("F06", "test.ours.alice", "not an echo response"));
        var reply = await alice.SendAsync(new IlpPrepare
        {
            Amount = 500,
            ExpiresAt = TestPeer.TruncateToMilliseconds(DateTimeOffset.UtcNow.AddSeconds(10)),
            ExecutionCondition = SHA256.HashData(fulfillment),
            Destination = "test.js",
            Data = IlpEcho.RequestData("test.ours.alice"),
        });
        Assert.True(reply is IlpFulfill, reply.ToString());
        var echoed = Assert.Single(alice.Received);
        Assert.Equal((500UL, "ECHOECHOECHOECHO\u0001"), (echoed.Amount, System.Text.Encoding.ASCII.GetString(echoed.Data.Span)));

        // And a plain Prepare to the JS node's own address is F01 there, as it is here.
        var plain = Assert.IsType<IlpReject>(await alice.SendAsync(TestPeer.Payment("test.js")));
        Assert.Equal(("F01", "packet data does not start with ECHO prefix."), (plain.Code, plain.Message));

        // Every echo paid back what it took: nobody's balance moved, and our books balance.
        await InteropConnector.WaitUntil(() => _host.Switch.InFlight == 0, "no packet in flight");
        await Books.AssertConsistentAsync(_host.Accounting.Ledger);
        var js = await _host.Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("js", PeerAccounts.LedgerFor("USD", 9)), default);
        Assert.Equal((Int128)0, js?.PostedBalance ?? 0);
        Assert.Equal(0, (await _js.InfoAsync()).Balances["m2m"]);
    }
}
