using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Server;
using M2M.Server.Configuration;
using M2M.TestKit;

namespace M2M.Interop.Tests;

/// <summary>
/// Issue 13 defect 1 with the npm ilp-plugin-btp 1.5.0 (btp-transfer-peer.js: sendMoney sends a BTP TRANSFER).
/// A trusted peer's TRANSFER is credited before the RESPONSE and once under a resend of the same request; an
/// untrusted peer's is refused with F00 and nothing moves; our btp-transfer settlement pays the JS peer by
/// TRANSFER. Before the fix every TRANSFER was answered RESPONSE and never booked (JS: owes 2,000; us: 20,000).
/// </summary>
[Trait("Tier", "interop")]
public sealed class BtpTransferInteropTests : IAsyncLifetime
{
    private static readonly uint Usd = PeerAccounts.LedgerFor("USD", 9);
    private ConnectorHost? _host;
    private readonly List<NodePeer> _peers = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => InteropConnector.DisposeAllAsync(_host, [.. _peers]);

    private NodePeer Payer(string user, string token)
    {
        var peer = NodePeer.Start(user, "btp-transfer-peer.js", "--url", $"btp+ws://{user}:{token}@127.0.0.1:{_host!.BtpPort}");
        _peers.Add(peer);
        return peer;
    }

    private async Task<Int128> Balance(string peer) => (await _host!.Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId(peer, Usd)))!.PostedBalance;

    [Fact]
    public async Task A_trusted_peers_TRANSFER_is_booked_once_and_an_untrusted_one_is_refused_with_F00()
    {
        _host = await InteropConnector.StartAsync(new ConnectorSettings
        {
            NodeId = "conn",
            IlpAddress = "test.conn",
            Peers =
            [
                new PeerSettings { Id = "alice", AuthToken = "alice-secret", Settlement = new SettlementSettings(0, 0, SettlementMethodKind.None, null) { AcceptBtpTransfer = true } },
                new PeerSettings { Id = "mallory", AuthToken = "mallory-secret" },
            ],
        });
        var alice = Payer("alice", "alice-secret");
        await alice.WaitForAsync("connected");
        await alice.SendLineAsync("pay 2000");
        await alice.SendLineAsync("pay 500 77");
        await alice.SendLineAsync("pay 500 77"); // a resend of the same request: answered, booked once
        var paid = await alice.WaitForCountAsync("paid", 3);
        Assert.Equal(["2000", "500", "500"], paid.Select(p => p.Str("amount")));
        Assert.Equal((Int128)2500, await Balance("alice")); // what alice saw acknowledged, once per request

        var mallory = Payer("mallory", "mallory-secret");
        await mallory.WaitForAsync("connected");
        await mallory.SendLineAsync("pay 100");
        await mallory.SendLineAsync("pay 100");
        var refused = await mallory.WaitForCountAsync("pay-error", 2);
        Assert.All(refused, e => Assert.Equal("F00", e.Str("code")));
        Assert.Contains("acceptBtpTransfer", refused[0].Str("message"));
        Assert.Equal(Int128.Zero, await Balance("mallory"));

        var settlement = (await _host.Accounting.Ledger.LookupAccountAsync(PeerAccounts.SettlementAccount("USD", 9).Id))!;
        Assert.Equal((Int128)(-2500), settlement.PostedBalance);
        await Books.AssertConsistentAsync(_host.Accounting.Ledger);
    }

    [Fact]
    public async Task Our_btp_transfer_settlement_pays_the_JS_peer_by_TRANSFER()
    {
        var bob = NodePeer.Start("bob", "btp-transfer-peer.js", "--port", "0", "--secret", "bob-secret", "--address", "test.bob");
        _peers.Add(bob);
        int port = (await bob.WaitForAsync("listening")).Int("port");
        _host = await InteropConnector.StartAsync(new ConnectorSettings
        {
            NodeId = "conn",
            IlpAddress = "test.conn",
            Peers =
            [
                new PeerSettings { Id = "alice", AuthToken = "alice-secret" },
                new PeerSettings { Id = "bob", Url = new Uri($"ws://127.0.0.1:{port}/"), AuthToken = "bob-secret", Settlement = new SettlementSettings(1000, 0, SettlementMethodKind.BtpTransfer, null) },
            ],
            Routes = [new("test.bob", "bob")],
        });
        await InteropConnector.WaitUntil(() => _host.Peers.IsConnected("bob"), "bob connected", diagnostics: bob.Diagnostics);
        await using var alice = await TestPeer.ConnectAsync(_host.BtpPort, "alice", "alice-secret");
        for (int i = 0; i < 3; i++) Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("test.bob.x", 400)));

        // We owe bob 1,200 ≥ 1,000: settled by one TRANSFER of 1,200, booked on our side once bob answered.
        var received = await bob.WaitForAsync("transfer-received");
        Assert.Equal("1200", received.Str("amount"));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await Balance("bob") != 0) // the coordinator books its side after bob's RESPONSE
        {
            Assert.True(DateTime.UtcNow < deadline, "bob's balance was not settled to 0" + bob.Diagnostics());
            await Task.Delay(20);
        }
        Assert.Single(bob.EventsNamed("transfer-received"));
        Assert.Equal((Int128)(-1200), await Balance("alice"));
        await Books.AssertConsistentAsync(_host.Accounting.Ledger);
    }

    /// <summary>
    /// The JavaScript ilp-connector 23 forwards into us and settles what it owes by BTP TRANSFER (its balance
    /// middleware calling sendMoney): afterwards its balance for us equals ours for it (the report: JS
    /// showed owing 2,000 while we showed 20,000, because every TRANSFER was acknowledged and never booked).
    /// </summary>
    [Fact]
    public async Task The_JS_ilp_connector_settles_with_us_by_TRANSFER_and_both_books_agree()
    {
        _host = await InteropConnector.StartAsync(new ConnectorSettings
        {
            NodeId = "conn",
            IlpAddress = "g.conn",
            Peers =
            [
                new PeerSettings { Id = "js", AuthToken = "js-secret", Settlement = new SettlementSettings(0, 0, SettlementMethodKind.None, null) { AcceptBtpTransfer = true } },
                new PeerSettings { Id = "bob", AuthToken = "bob-secret" },
            ],
            Routes = [new("g.conn.bob", "bob")],
        });
        await using var bob = await TestPeer.ConnectAsync(_host.BtpPort, "bob", "bob-secret");
        // alice: an ilp-plugin-btp listener the JS connector dials; on "go" she pays bob through JS and us.
        var alice = NodePeer.Start("alice", "btp-server-peer.js", "--port", "0", "--secret", "alice-secret", "--mode", "both", "--address", "test.alice",
            "--wait-for-go", "--count", "5", "--amount", "600", "--destination", "g.conn.bob.x");
        _peers.Add(alice);
        int alicePort = (await alice.WaitForAsync("listening")).Int("port");
        // The JS connector binds its admin port only later: a claimed port below the ephemeral range, not port 0's
        // answer released again (another process's connection could take that one before node binds it).
        int adminPort = LoopbackPort.Free();
        var js = NodePeer.Start("js", "js-connector-peer.js", "--url", $"btp+ws://js:js-secret@127.0.0.1:{_host.BtpPort}",
            "--alice-url", $"btp+ws://js:alice-secret@127.0.0.1:{alicePort}", "--admin-port", $"{adminPort}", "--settle-threshold=-1000");
        _peers.Add(js);
        await js.WaitForAsync("ready", TimeSpan.FromSeconds(20));
        await InteropConnector.WaitUntil(() => _host.Peers.IsConnected("js"), "the JS connector connected", diagnostics: js.Diagnostics);
        await alice.WaitForAsync("connected");

        await alice.SendLineAsync("go");
        var done = await alice.WaitForAsync("done", TimeSpan.FromSeconds(20));
        Assert.True(done.Int("fulfilled") == 5, done.GetRawText() + alice.Diagnostics() + js.Diagnostics());
        var sent = await js.WaitForCountAsync("money-sent", 2);
        Assert.Equal(["1200", "1200"], sent.Select(e => e.Str("amount")));

        using var http = new HttpClient();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        string jsBalance;
        while (true)
        {
            var status = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{adminPort}/balance")).RootElement;
            jsBalance = status.GetProperty("accounts").GetProperty("m2m").GetProperty("balance").GetString()!;
            if (jsBalance == "-600" || DateTime.UtcNow > deadline) break;
            await Task.Delay(50);
        }
        Assert.Equal("-600", jsBalance); // JS: it owes us 3,000 − 2,400 settled
        Assert.Equal((Int128)(-600), await Balance("js")); // us: the same
        Assert.Equal((Int128)3000, await Balance("bob"));
        await Books.AssertConsistentAsync(_host.Accounting.Ledger);
    }
}
