using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using M2M.Core.Ilp;
using M2M.Server.Configuration;
using M2M.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace M2M.Server.Tests;

/// <summary>
/// The Explorer's second slice on a running connector: settlement and route events, the dashboard,
/// settlements, routes and balance-history API, EXPLORER_PORT, and the event store across a restart.
/// </summary>
[Trait("Tier", "integration")]
public class ExplorerViewsApiTests
{
    private const string Admin = "admin-token-for-explorer-tests";

    private static HttpClient Client(int port, string? token)
    {
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        if (token is not null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    private static async Task<JsonElement> GetAsync(HttpClient http, string path)
    {
        using var r = await http.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        return JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    private static async Task<JsonElement> WaitForAsync(HttpClient http, string path, Func<JsonElement, bool> done, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            var body = await GetAsync(http, path);
            if (done(body)) return body;
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}: {body}");
            await Task.Delay(50);
        }
    }

    private static IEnumerable<JsonElement> Events(JsonElement page) => page.GetProperty("events").EnumerateArray();

    /// <summary>
    /// Wallet changes made through the admin API reach the Explorer (the host opens the wallet store once and the Explorer observes
    /// it): /api/wallets has the counts by status, the wallets and the wallet events; without a store it says why.
    /// </summary>
    [Fact]
    public async Task Wallet_changes_through_the_admin_api_become_wallet_events_and_the_wallets_view()
    {
        var walletStore = WalletApiClient.NewStore();
        var settings = ExplorerApiTests.Settings() with { Wallet = new WalletSettings { Path = walletStore, Password = "wallet-pw" } };
        await using var host = await TestConnector.StartAsync(settings);
        using var admin = Client(host.HealthPort, Admin);
        using var http = Client(host.HealthPort, ExplorerApiTests.ExplorerToken);

        foreach (string agent in new[] { "agent-1", "agent-2", "agent-3" })
        {
            using var created = await admin.PostAsync("/admin/wallets", new StringContent($"{{\"agentId\":\"{agent}\"}}", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }
        using (var again = await admin.PostAsync("/admin/wallets", new StringContent("{\"agentId\":\"agent-1\"}", System.Text.Encoding.UTF8, "application/json")))
            Assert.Equal(HttpStatusCode.OK, again.StatusCode); // idempotent: no second wallet_created
        using (var suspended = await admin.PostAsync("/admin/wallets/agent-2/suspend", new StringContent("{\"reason\":\"over budget\"}", System.Text.Encoding.UTF8, "application/json")))
            Assert.Equal(HttpStatusCode.OK, suspended.StatusCode);
        using (var archived = await admin.PostAsync("/admin/wallets/agent-3/archive", null))
            Assert.Equal(HttpStatusCode.OK, archived.StatusCode);

        var view = await WaitForAsync(http, "/api/wallets", w => Events(w).Count() == 5, "3 created, 1 suspended, 1 archived");
        Assert.True(view.GetProperty("available").GetBoolean());
        var counts = view.GetProperty("counts");
        Assert.Equal((1, 1, 1), (counts.GetProperty("active").GetInt32(), counts.GetProperty("suspended").GetInt32(), counts.GetProperty("archived").GetInt32()));
        Assert.Equal(["agent-3", "agent-2", "agent-1"], view.GetProperty("wallets").EnumerateArray().Select(w => w.GetProperty("agentId").GetString()));
        Assert.StartsWith("0x", view.GetProperty("wallets")[0].GetProperty("evmAddress").GetString());
        Assert.Equal(
            [("wallet_archived", "agent-3"), ("wallet_suspended", "agent-2"), ("wallet_created", "agent-3"), ("wallet_created", "agent-2"), ("wallet_created", "agent-1")],
            Events(view).Select(e => (e.GetProperty("type").GetString(), e.GetProperty("agent").GetString())));
        Assert.Contains("reason: over budget", Events(view).ElementAt(1).GetProperty("message").GetString());
        // The same events through the query API's type filter.
        var page = await GetAsync(http, "/api/events?type=wallet_created");
        Assert.Equal(3, Events(page).Count());
    }

    [Fact]
    public async Task Without_a_wallet_store_the_wallets_view_says_why()
    {
        await using var host = await TestConnector.StartAsync(ExplorerApiTests.Settings());
        using var http = Client(host.HealthPort, ExplorerApiTests.ExplorerToken);
        var view = await GetAsync(http, "/api/wallets");
        Assert.False(view.GetProperty("available").GetBoolean());
        Assert.Contains("WALLET_PASSWORD", view.GetProperty("unavailable").GetString());
        Assert.Empty(Events(view));
    }

    /// <summary>/api/packets/seconds: exact per-second counts by pair of peers, with the latency quantiles, and its one-line errors.</summary>
    [Fact]
    public async Task Packet_seconds_count_every_answered_packet_by_pair_of_peers()
    {
        await using var host = await TestConnector.StartAsync(ExplorerApiTests.Settings());
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        using var http = Client(host.HealthPort, ExplorerApiTests.ExplorerToken);
        for (int i = 0; i < 6; i++) Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 10)));
        bob.OnPrepare = _ => Task.FromResult<IlpReply>(new IlpReject { Code = "F99", TriggeredBy = "g.bob", Message = "no" });
        for (int i = 0; i < 2; i++) Assert.IsType<IlpReject>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 10)));

        // A second's counts are written once the second is over (within about a second).
        static long Sum(JsonElement rows, string field) => rows.EnumerateArray().Sum(r => r.GetProperty(field).GetInt64());
        var rows = await WaitForAsync(http, "/api/packets/seconds?peer=alice", r => Sum(r, "fulfilled") == 6 && Sum(r, "rejected") == 2, "6 fulfilled and 2 rejected counted");
        Assert.All(rows.EnumerateArray(), r => Assert.Equal(("alice", "bob"), (r.GetProperty("peerIn").GetString(), r.GetProperty("peerOut").GetString())));
        Assert.Equal(8, Sum(rows, "stored")); // under the sample budget every packet is an event
        Assert.All(rows.EnumerateArray(), r => Assert.True(r.GetProperty("p99LatencyMs").GetDouble() >= r.GetProperty("p50LatencyMs").GetDouble()));
        Assert.Empty((await GetAsync(http, "/api/packets/seconds?peer=carol")).EnumerateArray());

        using var bad = await http.GetAsync("/api/packets/seconds?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("must span 1 s to 1 h", await bad.Content.ReadAsStringAsync());
        using var anonymous = Client(host.HealthPort, null);
        using var unauthorized = await anonymous.GetAsync("/api/wallets");
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
    }

    [Fact]
    public async Task Settlement_events_dashboard_settlements_and_balance_history_follow_a_real_settlement()
    {
        var (engine, engineUrl) = await LoopbackWeb.StartAsync(app => app.MapPost("/accounts/{id}/settlements", () => Results.Created()));
        await using var _ = engine;
        var settings = ExplorerApiTests.Settings() with
        {
            Peers =
            [
                new PeerSettings { Id = "alice", AuthToken = "alice-secret", CreditLimit = 1000 },
                // 120: only the third packet of 50 reaches the threshold, so a poll between the packets cannot settle 90.
                new PeerSettings { Id = "bob", AuthToken = "bob-secret", Settlement = new SettlementSettings(Threshold: 120, SettleTo: 10, SettlementMethodKind.Rfc38, engineUrl) },
            ],
        };
        settings = settings with { Explorer = settings.Explorer with { BalanceSampleInterval = TimeSpan.FromMilliseconds(100) } };
        await using var host = await TestConnector.StartAsync(settings);
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        using var http = Client(host.HealthPort, ExplorerApiTests.ExplorerToken);

        for (int i = 0; i < 3; i++) Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 50)));
        Assert.IsType<IlpReject>(await alice.SendAsync(TestPeer.Payment("g.nowhere.x", 1)));

        // We owe bob 150, past his threshold of 120: one settlement of 140 (down to settleTo 10), requested then paid.
        var settled = await WaitForAsync(http, "/api/events?type=settlement_requested,settlement_paid",
            p => Events(p).Count() == 2, "settlement_requested and settlement_paid");
        var (paid, requested) = (Events(settled).First(), Events(settled).Last());
        Assert.Equal(("settlement_paid", "settlement_requested"), (paid.GetProperty("type").GetString(), requested.GetProperty("type").GetString()));
        foreach (var e in new[] { paid, requested })
        {
            Assert.Equal(("bob", "140", "rfc38"), (e.GetProperty("peer").GetString(), e.GetProperty("amount").GetString(), e.GetProperty("method").GetString()));
        }
        Assert.Equal(requested.GetProperty("settlementId").GetString(), paid.GetProperty("settlementId").GetString());

        var settlements = await GetAsync(http, "/api/settlements");
        Assert.Equal(0, settlements.GetProperty("open").GetInt32());
        var record = Assert.Single(settlements.GetProperty("settlements").EnumerateArray());
        Assert.Equal(("confirmed", "140", paid.GetProperty("settlementId").GetString()),
            (record.GetProperty("state").GetString(), record.GetProperty("amount").GetString(), record.GetProperty("id").GetString()));

        // The dashboard: 4 packets in the last minute, 3 fulfilled; balances against limits (alice owes 150 of her 1000).
        var dash = await WaitForAsync(http, "/api/dashboard", d => d.GetProperty("packets").GetProperty("packetsLastMinute").GetInt64() == 4, "4 packets on the dashboard");
        Assert.Equal(0.75, dash.GetProperty("packets").GetProperty("successRate").GetDouble());
        Assert.True(dash.GetProperty("packets").GetProperty("p99LatencyMs").GetDouble() > 0);
        var aliceBalance = dash.GetProperty("balances").EnumerateArray().Single(b => b.GetProperty("peerId").GetString() == "alice");
        Assert.Equal(("-150", "1000", 0.15), (aliceBalance.GetProperty("balance").GetString(), aliceBalance.GetProperty("creditLimit").GetString(), aliceBalance.GetProperty("limitUsed").GetDouble()));
        Assert.Empty(dash.GetProperty("openSettlements").EnumerateArray());
        Assert.Equal(2, dash.GetProperty("peers").GetProperty("connected").GetInt32());

        // Balance history: samples every 100 ms; bob's latest is 10 (after the settlement), alice's -150.
        var history = await WaitForAsync(http, "/api/balances/history", h => h.EnumerateArray().Any(p => p.GetProperty("peer").GetString() == "bob"
            && p.GetProperty("samples").EnumerateArray().Last().GetProperty("balance").GetString() == "10"), "bob's balance sample after the settlement");
        var aliceSamples = history.EnumerateArray().Single(p => p.GetProperty("peer").GetString() == "alice").GetProperty("samples").EnumerateArray().ToList();
        Assert.Equal("-150", aliceSamples[^1].GetProperty("balance").GetString());
        var times = aliceSamples.Select(s => s.GetProperty("time").GetDateTimeOffset()).ToList();
        Assert.Equal(times.Order(), times);
        using var badLimit = await http.GetAsync("/api/balances/history?limit=0");
        Assert.Equal(HttpStatusCode.BadRequest, badLimit.StatusCode);
    }

    [Fact]
    public async Task Route_changes_are_events_and_the_routes_view_shows_the_table()
    {
        await using var host = await TestConnector.StartAsync(ExplorerApiTests.Settings());
        using var admin = Client(host.HealthPort, Admin);
        using var http = Client(host.HealthPort, ExplorerApiTests.ExplorerToken);
        using var added = await admin.PostAsync("/admin/routes", new StringContent("{\"prefix\":\"g.carol\",\"nextHop\":\"bob\"}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        var events = await WaitForAsync(http, "/api/events?type=route_added", p => Events(p).Any(e => e.GetProperty("prefix").GetString() == "g.carol"), "route_added g.carol");
        Assert.Equal("bob", Events(events).First(e => e.GetProperty("prefix").GetString() == "g.carol").GetProperty("peer").GetString());
        var routes = await GetAsync(http, "/api/routes");
        Assert.Contains(routes.GetProperty("routes").EnumerateArray(), r => r.GetProperty("prefix").GetString() == "g.carol" && r.GetProperty("nextHop").GetString() == "bob");

        using var removed = await admin.DeleteAsync("/admin/routes/g.carol");
        Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        await WaitForAsync(http, "/api/events?type=route_removed&peer=bob", p => Events(p).Any(e => e.GetProperty("prefix").GetString() == "g.carol"), "route_removed g.carol");
        using var anonymous = Client(host.HealthPort, null);
        foreach (string path in new[] { "/api/routes", "/api/settlements", "/api/dashboard", "/api/balances/history" })
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(path)).StatusCode);
    }

    [Fact]
    public async Task Explorer_port_serves_the_UI_and_API_with_the_same_login()
    {
        var settings = ExplorerApiTests.Settings();
        await using var host = await TestConnector.StartAsync(settings with { Explorer = settings.Explorer with { Port = 0 } });
        Assert.NotEqual(0, host.ExplorerPort);
        Assert.NotEqual(host.HealthPort, host.ExplorerPort);
        using var anonymous = Client(host.ExplorerPort, null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/events")).StatusCode);
        Assert.Contains("name=\"token\"", await anonymous.GetStringAsync("/explorer"));
        // Only the Explorer there: the operations and admin API stay on the HTTP port.
        Assert.Equal(HttpStatusCode.NotFound, (await anonymous.GetAsync("/health")).StatusCode);
        using var http = Client(host.ExplorerPort, ExplorerApiTests.ExplorerToken);
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await WaitForAsync(http, "/api/events?type=peer_up&peer=alice", p => Events(p).Any(), "alice's peer_up on EXPLORER_PORT");
    }

    [Fact]
    public async Task A_taken_explorer_port_stops_the_start_when_asked_for_and_only_warns_for_the_default()
    {
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        int taken = ((IPEndPoint)squatter.LocalEndpoint).Port;
        var settings = ExplorerApiTests.Settings();

        var required = await ConnectorHost.CreateAsync(TestConnector.WithTempLedger(settings) with
        {
            BindAddress = "127.0.0.1",
            BtpServerPort = 0,
            HealthCheckPort = 0,
            Explorer = settings.Explorer with { Port = taken },
        }, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        await using (required)
        {
            var e = await Assert.ThrowsAnyAsync<IOException>(() => required.StartAsync(CancellationToken.None));
            Assert.StartsWith($"EXPLORER_PORT {taken} on 127.0.0.1 cannot be bound", e.Message);
            Assert.EndsWith("choose a free port or EXPLORER_PORT=off", e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }

        await using var soft = await TestConnector.StartAsync(settings with { Explorer = settings.Explorer with { Port = taken, PortRequired = false } });
        Assert.Equal(0, soft.ExplorerPort);
        using var http = Client(soft.HealthPort, ExplorerApiTests.ExplorerToken);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/events")).StatusCode);
    }

    [Fact]
    public async Task Events_survive_a_restart_and_paging_continues_over_both_runs()
    {
        var settings = TestConnector.WithTempLedger(ExplorerApiTests.Settings());
        var sent = new List<string>();
        await using (var first = await TestConnector.StartAsync(settings))
        {
            await using var alice = await TestPeer.ConnectAsync(first.BtpPort, "alice", "alice-secret");
            await using var bob = await TestPeer.ConnectAsync(first.BtpPort, "bob", "bob-secret");
            for (int i = 1; i <= 5; i++)
            {
                Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", (ulong)i)));
                sent.Add(i.ToString());
            }
            using var http = Client(first.HealthPort, ExplorerApiTests.ExplorerToken);
            await WaitForAsync(http, "/api/events?type=fulfill", p => Events(p).Count() == 5, "5 packets stored");
        }
        await using var second = await TestConnector.StartAsync(settings);
        await using (var alice = await TestPeer.ConnectAsync(second.BtpPort, "alice", "alice-secret"))
        await using (var bob = await TestPeer.ConnectAsync(second.BtpPort, "bob", "bob-secret"))
        {
            for (int i = 6; i <= 8; i++)
            {
                Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", (ulong)i)));
                sent.Add(i.ToString());
            }
        }
        using var again = Client(second.HealthPort, ExplorerApiTests.ExplorerToken);
        await WaitForAsync(again, "/api/events?type=fulfill&limit=1000", p => Events(p).Count() == 8, "8 packets over both runs");
        var amounts = new List<string>();
        string query = "?type=fulfill&limit=3";
        for (int pages = 0; ; pages++)
        {
            Assert.True(pages < 5, "paging did not end");
            var page = await GetAsync(again, "/api/events" + query);
            amounts.AddRange(Events(page).Select(e => e.GetProperty("amount").GetString()!));
            if (page.GetProperty("next").ValueKind == JsonValueKind.Null) break;
            query = $"?type=fulfill&limit=3&before={page.GetProperty("next").GetInt64()}";
        }
        Assert.Equal(Enumerable.Reverse(sent), amounts);
    }

    [Fact]
    public async Task An_explorer_file_that_cannot_be_opened_costs_a_warning_not_the_start()
    {
        var settings = TestConnector.WithTempLedger(ExplorerApiTests.Settings());
        // A directory where the file should be: SQLite cannot open it.
        Directory.CreateDirectory(Path.Combine(Path.GetDirectoryName(settings.Ledger.Path)!, M2M.Server.Explorer.ExplorerStore.FileName));
        await using var host = await TestConnector.StartAsync(settings);
        Assert.Null(host.Explorer!.Store.Path);
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        using var http = Client(host.HealthPort, ExplorerApiTests.ExplorerToken);
        await WaitForAsync(http, "/api/events?type=peer_up", p => Events(p).Any(), "peer_up kept in memory");
    }
}
