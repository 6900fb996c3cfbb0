using M2M.Core.Ledger;
using M2M.Core.Switch;
using M2M.Server;
using M2M.Server.Configuration;

namespace M2M.Interop.Tests;

/// <summary>
/// Ours in a network of JavaScript ilp-connector 23 nodes with no static routes: routes come by CCP (and
/// our address by ILDCP), ilp-protocol-stream payments cross us both ways with exact amounts, routes are
/// withdrawn when a node stops, and every node's balances agree with ours.
/// </summary>
[Trait("Tier", "interop")]
public sealed class MixedNetworkTests : IAsyncLifetime
{
    private static readonly RoutingSettings FastRouting = new() { BroadcastInterval = TimeSpan.FromSeconds(1), RouteExpiry = TimeSpan.FromSeconds(5) };
    private readonly List<JsNode> _nodes = [];
    private ConnectorHost? _host;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        try
        {
            await Task.WhenAll(_nodes.Select(n => n.DisposeAsync().AsTask()));
        }
        finally
        {
            if (_host is not null) await _host.DisposeAsync();
        }
    }

    [Fact]
    public async Task Js_ours_js_learns_routes_by_ccp_streams_both_ways_and_withdraws_routes_of_a_stopped_node()
    {
        int p1 = JsNode.FreePort(), p2 = JsNode.FreePort();
        // The JS nodes wait (up to 10 s) for their BTP peers before they are ready: start all three at once.
        var js1Start = Start("js1", new { ilpAddress = "test.js1", accounts = new { m2m = Account("peer", p1) }, stream = Stream() });
        var js2Start = Start("js2", new { ilpAddress = "test.js2", accounts = new { m2m = Account("peer", p2) }, stream = Stream() });
        var hostStart = InteropConnector.StartAsync(new ConnectorSettings
        {
            NodeId = "ours",
            IlpAddress = "test.ours",
            Routing = FastRouting,
            // A STREAM probe now and then is held downstream until it expires: 3 s instead of 30 keeps the test short.
            MaxHoldTime = TimeSpan.FromSeconds(3),
            Peers =
            [
                new PeerSettings { Id = "js1", Url = new Uri($"btp+ws://127.0.0.1:{p1}"), AuthToken = "m2m-secret" },
                new PeerSettings { Id = "js2", Url = new Uri($"btp+ws://127.0.0.1:{p2}"), AuthToken = "m2m-secret" },
            ],
        });
        await Task.WhenAll(js1Start, js2Start, hostStart);
        var (js1, js2) = (await js1Start, await js2Start);
        _host = await hostStart;

        // Routes by CCP only: ours learns each JS node's address, each JS node learns the other's through us.
        await InteropConnector.WaitUntil(() => _host.Routes.Lookup("test.js1.stream.x")?.NextHop == "js1" && _host.Routes.Lookup("test.js2.stream.x")?.NextHop == "js2",
            "ours learns test.js1 and test.js2", 20, () => " routes: " + string.Join(", ", _host.Routes.Routes.Select(r => $"{r.Prefix}→{r.NextHop}")));
        await js1.WaitForRoutesAsync(r => r.GetValueOrDefault("test.js2") == "m2m" && r.GetValueOrDefault("test.ours") == "m2m", "js1 learns test.js2 and test.ours from us");
        await js2.WaitForRoutesAsync(r => r.GetValueOrDefault("test.js1") == "m2m", "js2 learns test.js1 from us");

        // STREAM both directions, exact amounts (same asset and scale everywhere, no spread).
        var there = await js1.PayAsync(await js2.ReceiverAsync(), 1_000_000);
        Assert.Equal((1_000_000, 1_000_000), there);
        var back = await js2.PayAsync(await js1.ReceiverAsync(), 400_000);
        Assert.Equal((400_000, 400_000), back);
        await InteropConnector.WaitUntil(() => js2.ReceivedTotal == 1_000_000 && js1.ReceivedTotal == 400_000, "both STREAM servers count what was sent");

        // Balances agree: js1 sent 600,000 net through us to js2. Our posted balance of a peer is credits − debits
        // (its Prepares debit it: negative = we owe it); ilp-connector's balance is what the account sent it minus
        // what it forwarded there (negative = the account owes it). Both say the same thing with the same sign.
        await AssertBooksAsync();
        long ours1 = await PostedBalance("js1"), ours2 = await PostedBalance("js2");
        Assert.Equal(-600_000, ours1);
        Assert.Equal(600_000, ours2);
        Assert.Equal(ours1, (await js1.InfoAsync()).Balances["m2m"]);
        Assert.Equal(ours2, (await js2.InfoAsync()).Balances["m2m"]);

        // js2 stops: its routes go at once (the session is gone), and js1 hears the withdrawal from us.
        _nodes.Remove(js2);
        await js2.DisposeAsync();
        await InteropConnector.WaitUntil(() => _host.Routes.Lookup("test.js2.stream.x") is null, "ours withdraws test.js2");
        await js1.WaitForRoutesAsync(r => !r.ContainsKey("test.js2"), "js1 drops test.js2 after our withdrawal");
    }

    [Fact]
    public async Task Ours_as_child_of_a_js_parent_learns_its_address_by_ildcp_and_as_parent_of_a_js_child_serves_it()
    {
        int parentPort = JsNode.FreePort();
        var parentStart = Start("parent", new { ilpAddress = "test.parent", accounts = new { m2m = Account("child", parentPort) }, stream = Stream() });
        var hostStart = InteropConnector.StartAsync(new ConnectorSettings
        {
            NodeId = "m2m",
            IlpAddress = "g.m2m",
            IlpAddressIsDefault = true,
            Routing = FastRouting,
            // A STREAM probe now and then is held downstream until it expires: 3 s instead of 30 keeps the test short.
            MaxHoldTime = TimeSpan.FromSeconds(3),
            Peers =
            [
                new PeerSettings { Id = "up", Url = new Uri($"btp+ws://127.0.0.1:{parentPort}"), AuthToken = "m2m-secret", Relation = PeerRelation.Parent },
                new PeerSettings { Id = "kid", AuthToken = "kid-secret", Relation = PeerRelation.Child },
            ],
        });
        await Task.WhenAll(parentStart, hostStart);
        var parent = await parentStart;
        _host = await hostStart;
        await InteropConnector.WaitUntil(() => _host.Routing.IlpAddress == "test.parent.m2m", "ours learns test.parent.m2m by ILDCP", 20);
        Assert.Equal(M2M.Server.Routing.AddressSource.Parent, _host.Routing.AddressSource);
        Assert.Equal("up", _host.Routes.Lookup("test.anything")?.NextHop); // the default route to the parent

        // A JS connector without an address below us asks us by ILDCP and gets <our address>.kid.
        var kid = await Start("kid", new { accounts = new { m2m = new { relation = "parent", connect = $"btp+ws://kid:kid-secret@127.0.0.1:{_host.BtpPort}" } }, stream = Stream() });
        Assert.Equal("test.parent.m2m.kid", kid.Address);

        // Reachable both ways through us: parent → ours → kid and back, exact amounts.
        Assert.Equal((250_000, 250_000), await parent.PayAsync(await kid.ReceiverAsync(), 250_000));
        Assert.Equal((50_000, 50_000), await kid.PayAsync(await parent.ReceiverAsync(), 50_000));
        await InteropConnector.WaitUntil(() => kid.ReceivedTotal == 250_000 && parent.ReceivedTotal == 50_000, "both STREAM servers count what was sent");
        await AssertBooksAsync();
        Assert.Equal(-200_000, await PostedBalance("up"));
        Assert.Equal(200_000, await PostedBalance("kid"));
        Assert.Equal(-200_000, (await parent.InfoAsync()).Balances["m2m"]);
        Assert.Equal(200_000, (await kid.InfoAsync()).Balances["m2m"]);
    }

    /// <summary>`ledger verify` once nothing is in flight (STREAM's closing frames may still be crossing us).</summary>
    private async Task AssertBooksAsync()
    {
        await InteropConnector.WaitUntil(() => _host!.Switch.InFlight == 0, "no packet in flight", 10);
        await Task.Delay(300);
        await InteropConnector.WaitUntil(() => _host!.Switch.InFlight == 0, "no packet in flight");
        await M2M.TestKit.Books.AssertConsistentAsync(_host!.Accounting.Ledger);
    }

    private static object Stream() => new { port = JsNode.FreePort(), payerPort = JsNode.FreePort() };

    private static object Account(string relation, int port) => new { relation, listen = new { port, secret = "m2m-secret" } };

    private async Task<JsNode> Start(string name, object config)
    {
        var node = await JsNode.StartAsync(name, config);
        _nodes.Add(node);
        return node;
    }

    private async Task<long> PostedBalance(string peerId)
    {
        var peer = _host!.Settings.Peers.Single(p => p.Id == peerId);
        var account = await _host.Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId(peerId, PeerAccounts.LedgerFor(peer.AssetCode, peer.AssetScale)), default);
        return (long)(account?.PostedBalance ?? 0);
    }
}
