using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Server.Configuration;
using M2M.TestKit;

namespace M2M.Server.Tests;

/// <summary>
/// Issue 13 defect 1, between two of our nodes over one real BTP connection: each settles what it owes the
/// other with method btp-transfer (a BTP TRANSFER), and each books the other's TRANSFER (acceptBtpTransfer).
/// Before the fix a TRANSFER was answered RESPONSE and never booked, so the payee kept showing the debt.
/// The npm ilp-plugin-btp side is in M2M.Interop.Tests.BtpTransferInteropTests.
/// </summary>
[Trait("Tier", "integration")]
public class BtpTransferSettlementTests
{
    private static readonly uint Usd = PeerAccounts.LedgerFor("USD", 9);
    // 1,200: only the last packet of each direction reaches it (1,500 = 3 × 500, then 1,200), so the coordinator's
    // poll landing between packets cannot settle a part and leave the rest under the threshold.
    private static SettlementSettings Settle() => new(Threshold: 1200, SettleTo: 0, SettlementMethodKind.BtpTransfer, null) { AcceptBtpTransfer = true };

    private static async Task<Int128> Balance(ConnectorHost host, string peer) =>
        (await host.Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId(peer, Usd)))!.PostedBalance;

    private static async Task WaitFor(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Two_nodes_settle_both_ways_by_BTP_TRANSFER_and_their_books_agree()
    {
        await using var nodeB = await TestConnector.StartAsync(new ConnectorSettings
        {
            NodeId = "b",
            IlpAddress = "g.b",
            Peers = [new PeerSettings { Id = "carol", AuthToken = "carol-secret" }, new PeerSettings { Id = "a", AuthToken = "a-secret", Settlement = Settle() }],
            Routes = [new("g.carol", "carol"), new("g.alice", "a")],
        });
        await using var nodeA = await TestConnector.StartAsync(new ConnectorSettings
        {
            NodeId = "a",
            IlpAddress = "g.a",
            Peers =
            [
                new PeerSettings { Id = "alice", AuthToken = "alice-secret" },
                new PeerSettings { Id = "b", Url = new Uri($"ws://127.0.0.1:{nodeB.BtpPort}/"), AuthToken = "a-secret", Settlement = Settle() },
            ],
            Routes = [new("g.alice", "alice"), new("g.carol", "b")],
        });
        await WaitFor(() => Task.FromResult(nodeA.Peers.IsConnected("b") && nodeB.Peers.IsConnected("a")), "the nodes to connect");
        await using var alice = await TestPeer.ConnectAsync(nodeA.BtpPort, "alice", "alice-secret");
        await using var carol = await TestPeer.ConnectAsync(nodeB.BtpPort, "carol", "carol-secret");

        // alice → carol: A owes B 1,500, past the threshold: A pays by TRANSFER, B books it.
        for (int i = 0; i < 3; i++) Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.carol.x", 500)));
        await WaitFor(async () => await Balance(nodeA, "b") == 0 && await Balance(nodeB, "a") == 0, "A's settlement of 1,500 to be booked on both sides");

        // carol → alice: now B owes A 1,200 and pays by TRANSFER the other way.
        Assert.IsType<IlpFulfill>(await carol.SendAsync(TestPeer.Payment("g.alice.x", 1200)));
        await WaitFor(async () => await Balance(nodeB, "a") == 0 && await Balance(nodeA, "b") == 0, "B's settlement of 1,200 to be booked on both sides");

        Assert.Equal((Int128)(-1500 + 1200), await Balance(nodeA, "alice"));
        Assert.Equal((Int128)(1500 - 1200), await Balance(nodeB, "carol"));
        // Each side's settlement account shows what it paid by TRANSFER, less what it was paid.
        var settlementA = (await nodeA.Accounting.Ledger.LookupAccountAsync(PeerAccounts.SettlementAccount("USD", 9).Id))!;
        var settlementB = (await nodeB.Accounting.Ledger.LookupAccountAsync(PeerAccounts.SettlementAccount("USD", 9).Id))!;
        Assert.Equal(settlementA.PostedBalance, -settlementB.PostedBalance);
        Assert.Equal((Int128)300, settlementA.PostedBalance);
        await Books.AssertConsistentAsync(nodeA.Accounting.Ledger);
        await Books.AssertConsistentAsync(nodeB.Accounting.Ledger);
    }
}
