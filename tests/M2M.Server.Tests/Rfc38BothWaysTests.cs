using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Core.Routing;
using M2M.Server.Configuration;
using M2M.Settlement.Coordination;
using M2M.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace M2M.Server.Tests;

/// <summary>
/// RFC 38 both ways between two connectors, each with its own settlement engine (stand-ins on 127.0.0.1 that
/// speak the API). A owes B; A's engine is told to settle, tells B's engine through A's messages endpoint
/// (relayed as peer.settle over the BTP link, handed to B's engine by B), and B's engine credits B with
/// resends and a finer scale. Books on both sides, leftovers, messages both ways, no forwarding of peer.settle.
/// </summary>
public sealed class Rfc38BothWaysTests : IAsyncLifetime
{
    private const string Token = "admin-token";
    private WebApplication _engineA = null!, _engineB = null!;
    private Uri _engineAUrl = null!, _engineBUrl = null!;
    private ConnectorHost _a = null!, _b = null!;
    private readonly HttpClient _http = new();
    private readonly List<string> _engineASettlements = [], _engineAMessages = [], _engineBMessages = [], _engineBCreditReplies = [];
    private string? _engineARelayReply;

    public async Task InitializeAsync()
    {
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        (_engineA, _engineAUrl) = await LoopbackWeb.StartAsync(app =>
        {
            // A real engine would pay on its ledger here; it tells the peer's engine through the connector.
            app.MapPost("/accounts/{id}/settlements", async (HttpContext ctx, string id) =>
            {
                var body = (await JsonDocument.ParseAsync(ctx.Request.Body)).RootElement;
                string key = ctx.Request.Headers["Idempotency-Key"].ToString(), amount = body.GetProperty("amount").GetString()!;
                lock (_engineASettlements) _engineASettlements.Add($"{id}:{key}:{amount}");
                var note = JsonSerializer.SerializeToUtf8Bytes(new { key, amount });
                using var relayed = await _http.PostAsync($"http://127.0.0.1:{_a.HealthPort}/accounts/{id}/messages", new ByteArrayContent(note));
                _engineARelayReply = $"{(int)relayed.StatusCode} {await relayed.Content.ReadAsStringAsync()}";
                return Results.Created();
            });
            app.MapPost("/accounts/{id}/messages", async (HttpContext ctx, string id) =>
            {
                string text = await new StreamReader(ctx.Request.Body).ReadToEndAsync();
                lock (_engineAMessages) _engineAMessages.Add($"{id}:{text}");
                return Results.Bytes(Encoding.UTF8.GetBytes("engine-a-got:" + text), "application/octet-stream");
            });
        });
        (_engineB, _engineBUrl) = await LoopbackWeb.StartAsync(app => app.MapPost("/accounts/{id}/messages", async (HttpContext ctx, string id) =>
        {
            var note = (await JsonDocument.ParseAsync(ctx.Request.Body)).RootElement;
            string key = note.GetProperty("key").GetString()!;
            lock (_engineBMessages) _engineBMessages.Add($"{id}:{key}");
            // B's engine saw the payment arrive (in units of scale 11, finer than the account's 9) and credits it, resending 5 times.
            string amount = note.GetProperty("amount").GetString() + "37";
            for (int i = 0; i < 5; i++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{_b.HealthPort}/accounts/{id}/settlements")
                {
                    Content = JsonContent.Create(new { amount, scale = 11 }),
                };
                request.Headers.Add("Idempotency-Key", "b-engine-" + key);
                using var credited = await _http.SendAsync(request);
                string answer = $"{(int)credited.StatusCode} {await credited.Content.ReadAsStringAsync()}";
                lock (_engineBCreditReplies) _engineBCreditReplies.Add(answer);
            }
            return Results.Bytes("engine-b-credited"u8.ToArray(), "application/octet-stream");
        }));

        _b = await TestConnector.StartAsync(new ConnectorSettings
        {
            NodeId = "b", IlpAddress = "g.b", AdminApiToken = Token,
            Peers =
            [
                new PeerSettings { Id = "bob", AuthToken = "bob-secret" },
                new PeerSettings { Id = "a", AuthToken = "a-to-b", Settlement = new SettlementSettings(ulong.MaxValue, 0, SettlementMethodKind.Rfc38, _engineBUrl) },
            ],
            Routes = [new Route("g.bob", "bob"), new Route("g.alice", "a")],
        });
        _a = await TestConnector.StartAsync(new ConnectorSettings
        {
            NodeId = "a", IlpAddress = "g.a", AdminApiToken = Token,
            Peers =
            [
                new PeerSettings { Id = "alice", AuthToken = "alice-secret" },
                // 1,150: only the 12th packet (1,200 owed) reaches the threshold, so the amount settled does not
                // depend on how fast the settlement starts against the packets still arriving (1,000 let CI settle 1,100).
                new PeerSettings { Id = "b", Url = new Uri($"ws://127.0.0.1:{_b.BtpPort}/"), AuthToken = "a-to-b", Settlement = new SettlementSettings(1_150, 0, SettlementMethodKind.Rfc38, _engineAUrl) },
            ],
            Routes = [new Route("g.alice", "alice"), new Route("g.bob", "b")],
        });
        await RoutingThroughConnectorTests.WaitUntil(() => _a.Peers.IsConnected("b") && _b.Peers.IsConnected("a"));
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
        await _engineA.DisposeAsync();
        await _engineB.DisposeAsync();
        _http.Dispose();
    }

    private static async Task<Int128> Balance(ConnectorHost host, string peer) =>
        (await host.Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId(peer, PeerAccounts.LedgerFor("USD", 9))))!.PostedBalance;

    [Fact]
    [Trait("Tier", "integration")]
    public async Task A_settles_to_B_through_both_engines_B_credits_once_under_resends_and_messages_flow_both_ways()
    {
        await using var alice = await TestPeer.ConnectAsync(_a.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(_b.BtpPort, "bob", "bob-secret");
        for (int i = 0; i < 12; i++) Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 100)));
        Assert.Equal((Int128)(-1_200), await Balance(_b, "a"));

        await RoutingThroughConnectorTests.WaitUntil(() => _engineBCreditReplies.Count == 5 && _a.Settlement.Store.List(SettlementState.Confirmed).Count == 1, seconds: 30);

        // A: one settlement of 1,200, booked; B's engine answered the relayed note.
        Assert.Equal("b:" + _a.Settlement.Store.List(SettlementState.Confirmed)[0].Id + ":1200", Assert.Single(_engineASettlements));
        Assert.Equal((Int128)0, await Balance(_a, "b"));
        Assert.Equal("201 engine-b-credited", _engineARelayReply);
        // B: 120,037 at scale 11 is 1,200 at scale 9 and 37 left over; five posts, one credit, five identical answers.
        Assert.Single(_engineBMessages);
        Assert.All(_engineBCreditReplies, r => Assert.Equal("201 {\"amount\":\"1200\",\"scale\":9}", r));
        Assert.Equal((Int128)0, await Balance(_b, "a"));

        // The leftover counts: 63 more at scale 11 makes 100, i.e. 1 unit at scale 9.
        Assert.Equal("{\"amount\":\"1\",\"scale\":9}", await Credit(_b, "a", "k2", "63", 11, HttpStatusCode.Created));
        Assert.Equal((Int128)1, await Balance(_b, "a"));
        // A key reused with another quantity, a missing key, an unknown peer, no token: refused, nothing credited.
        Assert.Contains("another quantity", await Credit(_b, "a", "k2", "64", 11, HttpStatusCode.BadRequest));
        Assert.Contains("Idempotency-Key", await Credit(_b, "a", "", "5", 9, HttpStatusCode.BadRequest));
        Assert.Contains("no settlement engine", await Credit(_b, "bob", "k3", "5", 9, HttpStatusCode.BadRequest));
        using (var anonymous = new HttpClient())
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsJsonAsync($"http://127.0.0.1:{_b.HealthPort}/accounts/a/settlements", new { amount = "5", scale = 9 })).StatusCode);
        Assert.Equal((Int128)1, await Balance(_b, "a"));

        // The other way: B's engine writes to A's engine.
        using var fromB = await _http.PostAsync($"http://127.0.0.1:{_b.HealthPort}/accounts/a/messages", new ByteArrayContent("ping-from-b"u8.ToArray()));
        Assert.Equal(HttpStatusCode.Created, fromB.StatusCode);
        Assert.Equal("engine-a-got:ping-from-b", await fromB.Content.ReadAsStringAsync());
        Assert.Contains("b:ping-from-b", _engineAMessages);

        // peer.settle from a peer without an engine: F02 from B, and never forwarded anywhere.
        var reply = Assert.IsType<IlpReject>(await bob.SendAsync(PeerSettle.CreatePrepare("x"u8.ToArray(), TestPeer.TruncateToMilliseconds(DateTimeOffset.UtcNow.AddSeconds(10)))));
        Assert.Equal("F02", reply.Code);
        Assert.DoesNotContain(alice.Received, p => p.Destination == PeerSettle.Destination);
        Assert.DoesNotContain(bob.Received, p => p.Destination == PeerSettle.Destination);

        await Books.AssertConsistentAsync(_a.Accounting.Ledger);
        await Books.AssertConsistentAsync(_b.Accounting.Ledger);
    }

    private async Task<string> Credit(ConnectorHost host, string peer, string key, string amount, int scale, HttpStatusCode expected)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{host.HealthPort}/accounts/{peer}/settlements")
        {
            Content = JsonContent.Create(new { amount, scale }),
        };
        if (key.Length > 0) request.Headers.Add("Idempotency-Key", key);
        using var response = await _http.SendAsync(request);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{(int)response.StatusCode} {body}");
        return body;
    }
}
