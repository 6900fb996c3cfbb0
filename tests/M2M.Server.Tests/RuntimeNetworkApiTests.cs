using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using M2M.Core.Ilp;
using M2M.Server.Configuration;
using M2M.TestKit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Server.Tests;

/// <summary>/admin/peers and /admin/routes over HTTP: changes apply without a restart, leave other sessions alone, and survive a restart.</summary>
[Trait("Tier", "integration")]
public sealed class RuntimeNetworkApiTests
{
    [Fact]
    public async Task Add_a_peer_route_to_it_remove_it_and_restart_to_the_state_as_left()
    {
        var settings = TestConnector.WithTempLedger(TestConnector.TwoPeers()) with { AdminApiToken = "admin-token", BindAddress = "127.0.0.1", BtpServerPort = 0, HealthCheckPort = 0 };
        var logs = new LogLines();
        var host = await ConnectorHost.CreateAsync(settings, Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddProvider(logs)));
        await host.StartAsync(CancellationToken.None);
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        using var http = Admin(host);
        try
        {
            var added = await http.PostAsJsonAsync("/admin/peers", new { id = "carol", authToken = "carol-secret", creditLimit = 5000 });
            Assert.True(added.StatusCode == HttpStatusCode.Created, await added.Content.ReadAsStringAsync() + string.Join("\n", logs.Lines));
            await using var carol = await TestPeer.ConnectAsync(host.BtpPort, "carol", "carol-secret");
            Assert.Equal(HttpStatusCode.Created, (await http.PostAsJsonAsync("/admin/routes", new { prefix = "g.carol", nextHop = "carol" })).StatusCode);

            Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.carol.shop", amount: 321)));
            Assert.Contains(carol.Received, p => p.Destination == "g.carol.shop" && p.Amount == 321);
            var routes = JsonDocument.Parse(await http.GetStringAsync("/admin/routes")).RootElement;
            Assert.Contains(routes.GetProperty("routes").EnumerateArray(), r => r.GetProperty("prefix").GetString() == "g.carol" && r.GetProperty("origin").GetString() == "configured");

            // Bad input: one clear message each, nothing changes.
            await AssertBad(http.PostAsJsonAsync("/admin/peers", new { id = "bad id!" }), "peer.id: 'bad id!' is invalid");
            await AssertBad(http.PostAsJsonAsync("/admin/peers", new { id = "x", relation = "cousin" }), "peer.relation: 'cousin' is invalid; expected one of peer, parent, child");
            await AssertBad(http.PostAsJsonAsync("/admin/peers", new { id = "x", colour = "red" }), "unknown field 'colour'");
            await AssertBad(http.PostAsJsonAsync("/admin/routes", new { prefix = "g.x", nextHop = "nobody" }), "route.nextHop: 'nobody' is invalid");
            Assert.Equal(HttpStatusCode.Conflict, (await http.PostAsJsonAsync("/admin/peers", new { id = "carol", authToken = "other" })).StatusCode);

            // Carol owes nothing but is owed 321: removal is refused without force, then done with it.
            var refused = await http.DeleteAsync("/admin/peers/carol");
            Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
            Assert.Contains("has a balance of 321", await refused.Content.ReadAsStringAsync());
            Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync("/admin/peers/carol?force=true")).StatusCode);
            Assert.False(host.Peers.IsConnected("carol"));
            Assert.Null(host.Routes.Lookup("g.carol.shop"));
            Assert.True(host.Peers.IsConnected("alice")); // untouched
            Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync("/admin/routes/g.bob")).StatusCode);
            Assert.Equal(HttpStatusCode.Created, (await http.PostAsJsonAsync("/admin/peers", new { id = "dave", authToken = "dave-secret", relation = "child", asset = new { code = "XRP", scale = 6 } })).StatusCode);
            await Books.AssertConsistentAsync(host.Accounting.Ledger);
        }
        finally
        {
            await host.DisposeAsync();
        }

        // Restart from the same YAML: the runtime changes are still there.
        await using var restarted = await ConnectorHost.CreateAsync(settings, NullLoggerFactory.Instance);
        await restarted.StartAsync(CancellationToken.None);
        Assert.Equal(["alice", "bob", "dave"], restarted.Peers.Configured.Select(p => p.Id));
        Assert.Equal(("XRP", (byte)6), (restarted.Peers.Settings("dave")!.AssetCode, restarted.Peers.Settings("dave")!.AssetScale));
        Assert.Equal(["g.alice"], restarted.StaticRoutes.Select(r => r.Prefix));
        Assert.Equal("dave", restarted.Routes.Lookup("g.conn.dave.x")?.NextHop);
        await using var dave = await TestPeer.ConnectAsync(restarted.BtpPort, "dave", "dave-secret");
        Assert.True(restarted.Peers.IsConnected("dave"));
    }

    private static HttpClient Admin(ConnectorHost host)
    {
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{host.HealthPort}") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "admin-token");
        return http;
    }

    private static async Task AssertBad(Task<HttpResponseMessage> call, string expected)
    {
        var response = await call;
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, body);
        Assert.Contains(expected, body);
    }
}
