using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using M2M.Core.Ilp;
using M2M.Server.Configuration;
using M2M.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace M2M.Server.Tests;

/// <summary>
/// Settlement end to end: packets make us owe bob; past his threshold the connector pays him
/// through an RFC 38 settlement engine (a stand-in HTTP engine on 127.0.0.1) and the ledger follows.
/// </summary>
[Trait("Tier", "integration")]
public sealed class SettlementThroughConnectorTests : IAsyncLifetime
{
    private WebApplication _engine = null!;
    private Uri _engineUrl = null!;
    private readonly List<(string Key, JsonElement Body)> _engineCalls = [];
    private ConnectorHost _host = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        (_engine, _engineUrl) = await LoopbackWeb.StartAsync(app => app.MapPost("/accounts/{id}/settlements", async (HttpContext ctx) =>
        {
            var body = await JsonDocument.ParseAsync(ctx.Request.Body);
            lock (_engineCalls) _engineCalls.Add((ctx.Request.Headers["Idempotency-Key"].ToString(), body.RootElement.Clone()));
            return Results.Created();
        }));

        var settings = TestConnector.TwoPeers() with
        {
            AdminApiToken = "admin-token",
            Peers =
            [
                new PeerSettings { Id = "alice", AuthToken = "alice-secret" },
                new PeerSettings { Id = "bob", AuthToken = "bob-secret", Settlement = new SettlementSettings(Threshold: 100, SettleTo: 10, SettlementMethodKind.Rfc38, _engineUrl) },
            ],
        };
        _host = await TestConnector.StartAsync(settings);
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_host.HealthPort}/") };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "admin-token");
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _host.DisposeAsync();
        await _engine.DisposeAsync();
    }

    private async Task<string> BobBalance()
    {
        var balances = JsonDocument.Parse(await _http.GetStringAsync("admin/balances")).RootElement;
        return balances.EnumerateArray().Single(b => b.GetProperty("peerId").GetString() == "bob").GetProperty("balance").GetString()!;
    }

    [Fact]
    public async Task Crossing_the_threshold_settles_bob_through_the_engine_and_the_metrics_show_it()
    {
        await using var alice = await TestPeer.ConnectAsync(_host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(_host.BtpPort, "bob", "bob-secret");
        Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 60)));
        await Task.Delay(700);
        Assert.Empty(_engineCalls);

        Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 90)));
        await RoutingThroughConnectorTests.WaitUntil(() => _host.Settlement.Store.List(M2M.Settlement.Coordination.SettlementState.Confirmed).Count == 1);

        var call = Assert.Single(_engineCalls);
        Assert.Equal("140", call.Body.GetProperty("amount").GetString());
        Assert.Equal(9, call.Body.GetProperty("scale").GetInt32());
        Assert.Equal("10", await BobBalance());
        var confirmed = JsonDocument.Parse(await _http.GetStringAsync("settlements?state=confirmed")).RootElement;
        Assert.Equal(call.Key, confirmed[0].GetProperty("settlementId").GetString());
        // The coordinator stores the record as confirmed and then tells its observers (the metrics among them): a scrape
        // between the two has the record but not yet the counts, so wait for them.
        const string executed = "settlements_executed_total{method=\"rfc38\",status=\"success\"} 1";
        const string amount = "settlement_amount_total{method=\"rfc38\",token=\"USD/9\"} 140";
        string metrics;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!((metrics = await _http.GetStringAsync("metrics")).Contains(executed) && metrics.Contains(amount)) && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Contains("settlements_pending 0", metrics);
        Assert.Contains(executed, metrics);
        Assert.Contains(amount, metrics);
        var health = JsonDocument.Parse(await _http.GetStringAsync("health")).RootElement;
        Assert.Equal(1.0, health.GetProperty("sla").GetProperty("settlementSuccessRate").GetDouble());
        await Books.AssertConsistentAsync(_host.Accounting.Ledger);
    }

    [Theory]
    [InlineData("not json", "not JSON")]
    [InlineData("[1]", "JSON object")]
    [InlineData("{}", "peerId is required")]
    [InlineData("{\"peerId\":\"bob\",\"amount\":-5}", "positive whole number")]
    [InlineData("{\"peerId\":\"bob\",\"amount\":\"1.5\"}", "positive whole number")]
    [InlineData("{\"peerId\":\"carol\"}", "no settlement configured")]
    [InlineData("{\"peerId\":\"bob\"}", "nothing to settle")]
    [InlineData("{\"peerId\":\"bob\",\"method\":\"evm\"}", "not available")]
    [InlineData("{\"peerId\":\"bob\",\"tokenId\":\"EUR\"}", "is not peer 'bob''s asset")]
    public async Task Bad_execute_requests_are_400_with_a_clear_message(string body, string message)
    {
        using var response = await _http.PostAsync("settlement/execute", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(message, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Execute_settles_now_with_the_given_amount_and_needs_the_token()
    {
        await using var alice = await TestPeer.ConnectAsync(_host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(_host.BtpPort, "bob", "bob-secret");
        Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 50)));
        using var anonymous = new HttpClient { BaseAddress = _http.BaseAddress };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsJsonAsync("settlement/execute", new { peerId = "bob" })).StatusCode);

        using var response = await _http.PostAsJsonAsync("settlement/execute", new { peerId = "bob", amount = "20", tokenId = "USD" });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var created = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        string id = created.GetProperty("settlementId").GetString()!;
        Assert.Equal("pending", created.GetProperty("state").GetString());

        await RoutingThroughConnectorTests.WaitUntil(() => _host.Settlement.Store.Get(Guid.Parse(id))?.State == M2M.Settlement.Coordination.SettlementState.Confirmed);
        var fetched = JsonDocument.Parse(await _http.GetStringAsync($"settlement/{id}")).RootElement;
        Assert.Equal(("confirmed", "20"), (fetched.GetProperty("state").GetString(), fetched.GetProperty("amount").GetString()));
        Assert.Equal("30", await BobBalance());
        var status = JsonDocument.Parse(await _http.GetStringAsync("settlement/status/bob")).RootElement;
        Assert.Equal(id, status.GetProperty("last").GetProperty("settlementId").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await _http.GetAsync($"settlement/{Guid.NewGuid()}")).StatusCode);
    }
}
