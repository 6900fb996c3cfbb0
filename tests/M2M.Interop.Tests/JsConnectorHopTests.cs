using System.Net.Http.Json;
using System.Text.Json;
using M2M.Core.Routing;
using M2M.Core.Switch;
using M2M.Server;
using M2M.Server.Configuration;
using M2M.TestKit;

namespace M2M.Interop.Tests;

/// <summary>
/// Issue 17 through a JavaScript ilp-connector 23.0.2 hop (tests/interop/js-connector-hop.js): an npm SPSP client
/// behind it pays a hosted account here, and our send API pays an npm STREAM server behind it.
/// </summary>
[Trait("Tier", "interop")]
public sealed class JsConnectorHopTests : HostedNodeTest
{
    private int _payerPort;
    private int _bobPort;

    private protected override Task<HostedNode> StartNodeAsync() =>
        HostedNode.StartAsync([new PeerSettings { Id = "jsconn", AuthToken = "jsconn-secret", Relation = PeerRelation.Peer }], [new Route("test.jsconn", "jsconn", 0)]);

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        var hop = Start("js-connector", "js-connector-hop.js", "--m2m-url", $"btp+ws://jsconn:jsconn-secret@127.0.0.1:{Host.BtpPort}");
        var ready = await hop.WaitForAsync("ready", TimeSpan.FromSeconds(30));
        (_payerPort, _bobPort) = (ready.Int("payerPort"), ready.Int("bobPort"));
        await InteropConnector.WaitUntil(() => Host.Peers.IsConnected("jsconn"), "the JS connector is connected to us", 20);
    }

    [Fact]
    public async Task Spsp_client_behind_a_js_connector_pays_a_hosted_account_and_our_send_api_pays_back_through_it()
    {
        await Http.PostAsJsonAsync("/admin/accounts", new { id = "agent1" });

        var payer = Start("payer", "stream-client.js", "--url", $"btp+ws://payer:payer@127.0.0.1:{_payerPort}",
            "--pointer", $"http://127.0.0.1:{Host.HealthPort}/agent1", "--mode", "stream", "--amount", "20000", "--max-packet", "5000");
        var paid = await payer.WaitForAsync("paid", TimeSpan.FromSeconds(30));
        Assert.Equal("20000", paid.Str("totalSent"));
        Assert.Equal("20000", await BalanceAsync("agent1"));
        Assert.Equal("-20000", await BalanceAsync("jsconn"));

        var bob = Start("bob", "stream-server.js", "--url", $"btp+ws://bob:bob@127.0.0.1:{_bobPort}");
        int spspPort = (await bob.WaitForAsync("listening", TimeSpan.FromSeconds(20))).Int("spspPort");
        var started = await (await Http.PostAsJsonAsync("/accounts/agent1/payments",
            new { receiver = $"http://127.0.0.1:{spspPort}/", sourceAmount = "7777", clientId = "hop-1" })).Content.ReadFromJsonAsync<JsonElement>();
        var done = await Node.FinishedAsync("agent1", started.Str("paymentId"));

        Assert.True(done.Str("state") == "completed", done.GetRawText());
        Assert.Equal("7777", done.Str("sent"));
        Assert.Equal("7777", done.Str("delivered"));
        await bob.WaitUntilAsync(e => e.Any(x => x.GetProperty("event").GetString() == "money" && x.Str("total") == "7777"), "bob's server behind the JS connector received 7777");
        Assert.Equal("12223", await BalanceAsync("agent1"));
        Assert.Equal("-12223", await BalanceAsync("jsconn"));
        await Books.AssertConsistentAsync(Host.Accounting.Ledger);
    }
}
