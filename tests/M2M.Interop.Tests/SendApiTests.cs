using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using M2M.Core.Switch;
using M2M.Server;
using M2M.Server.Configuration;
using M2M.TestKit;

namespace M2M.Interop.Tests;

/// <summary>
/// Issue 17, the send API: a hosted account (funded by an npm SPSP client over BTP) pays an npm
/// ilp-protocol-stream server, another hosted account, and a hostile receiver; amounts are exact,
/// idempotent by client id, and the books agree with what each side saw.
/// </summary>
[Trait("Tier", "interop")]
public sealed class SendApiTests : HostedNodeTest
{
    private protected override Task<HostedNode> StartNodeAsync() => HostedNode.StartAsync(
    [
        new PeerSettings { Id = "alice", AuthToken = "alice-secret", Relation = PeerRelation.Child },
        new PeerSettings { Id = "bob", AuthToken = "bob-secret", Relation = PeerRelation.Child },
    ]);

    /// <summary>Creates the account and funds it by a real SPSP payment from alice (npm client over BTP).</summary>
    private async Task<string> FundedAccountAsync(string id, ulong amount)
    {
        var token = (await Node.CreateAccountAsync(id)).Str("token");
        if (amount == 0) return token;
        var funder = Start("funder", "stream-client.js", "--url", $"btp+ws://alice:alice-secret@127.0.0.1:{Host.BtpPort}",
            "--pointer", $"http://127.0.0.1:{Host.HealthPort}/{id}", "--amount", amount.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(0, await funder.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(amount.ToString(System.Globalization.CultureInfo.InvariantCulture), await BalanceAsync(id));
        return token;
    }

    private static async Task<JsonElement> PayAsync(HttpClient http, string from, object body, HttpStatusCode expected)
    {
        var response = await http.PostAsJsonAsync($"/accounts/{from}/payments", body);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(expected == response.StatusCode, $"{(int)response.StatusCode}: {json.GetRawText()}");
        return json;
    }

    private Task<JsonElement> FinishedAsync(string from, string paymentId) => Node.FinishedAsync(from, paymentId);

    [Fact]
    public async Task Send_api_pays_an_npm_stream_server_exactly_once_per_client_id()
    {
        string token = await FundedAccountAsync("agent1", 50_000);
        var bob = Start("bob", "stream-server.js", "--url", $"btp+ws://bob:bob-secret@127.0.0.1:{Host.BtpPort}");
        int spspPort = (await bob.WaitForAsync("listening", TimeSpan.FromSeconds(20))).Int("spspPort");
        using var agent = new HttpClient { BaseAddress = Http.BaseAddress };
        agent.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var body = new { receiver = $"http://127.0.0.1:{spspPort}/", sourceAmount = "12345", clientId = "invoice-1" };

        var started = await PayAsync(agent, "agent1", body, HttpStatusCode.Accepted);
        var again = await PayAsync(agent, "agent1", body, HttpStatusCode.OK);
        var done = await FinishedAsync("agent1", started.Str("paymentId"));

        Assert.Equal(started.Str("paymentId"), again.Str("paymentId"));
        Assert.True(done.Str("state") == "completed", done.GetRawText());
        Assert.Equal("12345", done.Str("sent"));
        Assert.Equal("12345", done.Str("delivered"));
        await bob.WaitUntilAsync(e => e.Any(x => x.GetProperty("event").GetString() == "money" && x.Str("total") == "12345"), "bob's server received 12345");
        Assert.Equal("37655", await BalanceAsync("agent1"));
        Assert.Equal("12345", await BalanceAsync("bob"));
        await Books.AssertConsistentAsync(Host.Accounting.Ledger);
    }

    [Fact]
    public async Task Hosted_account_pays_another_hosted_account_by_its_pointer()
    {
        await FundedAccountAsync("agent1", 1_000);
        await FundedAccountAsync("agent2", 0);

        var started = await PayAsync(Http, "agent1", new { receiver = $"http://127.0.0.1:{Host.HealthPort}/agent2", sourceAmount = 400 }, HttpStatusCode.Accepted);
        var done = await FinishedAsync("agent1", started.Str("paymentId"));

        Assert.True(done.Str("state") == "completed", done.GetRawText());
        Assert.Equal("400", done.Str("delivered"));
        Assert.Equal("600", await BalanceAsync("agent1"));
        Assert.Equal("400", await BalanceAsync("agent2"));
        await Books.AssertConsistentAsync(Host.Accounting.Ledger);
    }

    [Fact]
    public async Task Amount_beyond_the_balance_and_a_hostile_receiver_lose_nothing()
    {
        await FundedAccountAsync("agent1", 1_000);
        var bob = Start("bob", "stream-server.js", "--url", $"btp+ws://bob:bob-secret@127.0.0.1:{Host.BtpPort}", "--hostile");
        int spspPort = (await bob.WaitForAsync("listening", TimeSpan.FromSeconds(20))).Int("spspPort");

        var tooMuch = await PayAsync(Http, "agent1", new { receiver = $"http://127.0.0.1:{spspPort}/", sourceAmount = 1_001 }, HttpStatusCode.Conflict);
        Assert.Contains("holds 1000", tooMuch.Str("error"));
        var started = await PayAsync(Http, "agent1", new { receiver = $"http://127.0.0.1:{spspPort}/", sourceAmount = 500 }, HttpStatusCode.Accepted);
        var done = await FinishedAsync("agent1", started.Str("paymentId"));

        Assert.Equal("failed", done.Str("state"));
        Assert.Contains("F99", done.Str("error"));
        Assert.Equal("0", done.Str("sent"));
        Assert.Equal("1000", await BalanceAsync("agent1"));
        Assert.Equal("0", await BalanceAsync("bob"));
        await Books.AssertConsistentAsync(Host.Accounting.Ledger);
    }
}
