using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using M2M.Core.Ilp;
using M2M.Server.Configuration;
using M2M.TestKit;

namespace M2M.Server.Tests;

/// <summary>The Explorer's query API on a running connector: token required, packets and peer events recorded, filters and paging over HTTP.</summary>
[Trait("Tier", "integration")]
public class ExplorerApiTests
{
    public const string ExplorerToken = "explorer-read-only-token";

    public static ConnectorSettings Settings(int maxEvents = 100_000) => TestConnector.TwoPeers() with
    {
        AdminApiToken = "admin-token-for-explorer-tests",
        Explorer = new ExplorerSettings { Token = ExplorerToken, MaxEvents = maxEvents },
    };

    private static HttpClient Client(ConnectorHost host, string? token)
    {
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{host.HealthPort}") };
        if (token is not null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    private static async Task<JsonElement> EventsAsync(HttpClient http, string query)
    {
        // The feed is asynchronous: poll until the pump has stored what the test sent.
        using var r = await http.GetAsync("/api/events" + query);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        return JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;
    }

    private static async Task<JsonElement> WaitForEventsAsync(HttpClient http, string query, int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            var page = await EventsAsync(http, query);
            if (page.GetProperty("events").GetArrayLength() >= count || DateTime.UtcNow > deadline) return page;
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Every_read_needs_a_token_and_wrong_ones_get_401()
    {
        await using var host = await TestConnector.StartAsync(Settings());
        foreach (string path in new[] { "/api/events", "/api/peers", "/api/balances", "/api/events/stream" })
        {
            using var none = Client(host, null);
            Assert.Equal(HttpStatusCode.Unauthorized, (await none.GetAsync(path)).StatusCode);
            using var wrong = Client(host, "not-the-token");
            Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync(path, HttpCompletionOption.ResponseHeadersRead)).StatusCode);
        }
        using var admin = Client(host, "admin-token-for-explorer-tests");
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/peers")).StatusCode);
        // The UI without a session is the login form, not the data.
        using var anonymous = Client(host, null);
        string page = await anonymous.GetStringAsync("/explorer");
        Assert.Contains("name=\"token\"", page);
        Assert.DoesNotContain("explorer.js", page);
    }

    [Fact]
    public async Task Packets_and_peer_events_are_recorded_and_queried_with_filters_and_paging()
    {
        await using var host = await TestConnector.StartAsync(Settings());
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        var payments = Enumerable.Range(1, 9).Select(i => TestPeer.Payment("g.bob.shop", (ulong)(100 + i))).ToList();
        foreach (var p in payments)
        {
            var reply = await alice.SendAsync(p);
            Assert.True(reply is IlpFulfill, reply is IlpReject refused ? $"rejected {refused.Code}: {refused.Message}" : "no fulfill");
        }
        var reject = Assert.IsType<IlpReject>(await alice.SendAsync(TestPeer.Payment("g.nowhere.x", 7)));

        using var http = Client(host, ExplorerToken);
        var all = await WaitForEventsAsync(http, "?peer=alice&limit=1000", 11);
        Assert.Contains(all.GetProperty("events").EnumerateArray(), e => e.GetProperty("type").GetString() == "peer_up");

        var rejects = (await EventsAsync(http, "?type=reject")).GetProperty("events");
        var r = Assert.Single(rejects.EnumerateArray());
        Assert.Equal(reject.Code, r.GetProperty("code").GetString());
        Assert.Equal("7", r.GetProperty("amount").GetString());
        Assert.Equal("alice", r.GetProperty("peerIn").GetString());

        string id = Convert.ToHexStringLower(payments[4].ExecutionCondition.Span);
        var one = Assert.Single((await EventsAsync(http, $"?packetId={id}")).GetProperty("events").EnumerateArray());
        Assert.Equal(("fulfill", "105", "g.bob.shop", "bob"), (one.GetProperty("type").GetString(), one.GetProperty("amount").GetString(),
            one.GetProperty("destination").GetString(), one.GetProperty("peerOut").GetString()));
        Assert.True(one.GetProperty("latencyMs").GetDouble() > 0);

        var amounts = new List<string>();
        string query = "?type=fulfill&limit=4";
        for (int pages = 0; ; pages++)
        {
            Assert.True(pages < 5, "paging did not end");
            var page = await EventsAsync(http, query);
            amounts.AddRange(page.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("amount").GetString()!));
            if (page.GetProperty("next").ValueKind == JsonValueKind.Null) break;
            query = $"?type=fulfill&limit=4&before={page.GetProperty("next").GetInt64()}";
        }
        Assert.Equal(payments.Select(p => p.Amount.ToString()).Reverse(), amounts);

        using var bad = await http.GetAsync("/api/events?type=prepared");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("not one of", await bad.Content.ReadAsStringAsync());

        await bob.DisposeAsync();
        var down = await WaitForEventsAsync(http, "?type=peer_down&peer=bob", 1);
        Assert.Single(down.GetProperty("events").EnumerateArray());
    }

    [Fact]
    public async Task Live_stream_delivers_new_packets_as_server_sent_events()
    {
        await using var host = await TestConnector.StartAsync(Settings());
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        using var http = Client(host, ExplorerToken);
        using var response = await http.GetAsync("/api/events/stream", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.Equal(": explorer", await reader.ReadLineAsync());

        var prepare = TestPeer.Payment("g.bob.live", 4242);
        Assert.IsType<IlpFulfill>(await alice.SendAsync(prepare));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        string id = Convert.ToHexStringLower(prepare.ExecutionCondition.Span);
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            var e = JsonDocument.Parse(line["data: ".Length..]).RootElement;
            if (e.TryGetProperty("packetId", out var p) && p.GetString() == id)
            {
                Assert.Equal("4242", e.GetProperty("amount").GetString());
                return;
            }
        }
        Assert.Fail("the stream ended before the packet arrived");
    }

    [Fact]
    public async Task Disabled_explorer_maps_nothing_and_the_packet_path_has_no_feed()
    {
        await using var host = await TestConnector.StartAsync(Settings() with { Explorer = new ExplorerSettings { Enabled = false } });
        Assert.Null(host.Explorer);
        using var http = Client(host, ExplorerToken);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/api/events")).StatusCode);
        // GET /{account} is SPSP (hosted accounts), so /explorer falls to it (406 without the SPSP Accept header): anything but the Explorer.
        using var page = await http.GetAsync("/explorer");
        Assert.NotEqual(HttpStatusCode.OK, page.StatusCode);
        Assert.DoesNotContain("M2M Explorer", await page.Content.ReadAsStringAsync());
    }
}
