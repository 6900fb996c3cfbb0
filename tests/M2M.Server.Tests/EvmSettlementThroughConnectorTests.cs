using System.Globalization;
using System.Numerics;
using M2M.Btp;
using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Core.Routing;
using M2M.Server.Accounting;
using M2M.Server.Configuration;
using M2M.Settlement.Coordination;
using M2M.Settlement.Evm;
using M2M.TestKit;

namespace M2M.Server.Tests;

[CollectionDefinition(Name)]
public sealed class EvmNodeCollection : ICollectionFixture<EvmNodeFixture>
{
    public const string Name = "EVM node";
}

/// <summary>
/// Two connectors settle over a real EVM payment channel (ganache): A pays B with cumulative claims sent over
/// their BTP session, B verifies them against the chain, credits its ledger and can redeem the latest claim.
/// </summary>
[Collection(EvmNodeCollection.Name)]
[Trait("Tier", "integration")]
public sealed class EvmSettlementThroughConnectorTests(EvmNodeFixture node)
{
    private static readonly BigInteger WeiPerUnit = BigInteger.Pow(10, 9); // USD/9
    private static readonly BigInteger Deposit = BigInteger.Pow(10, 18);
    private static readonly uint Ledger = PeerAccounts.LedgerFor("USD", 9);

    [Fact(Timeout = 120_000)]
    public async Task Connector_settles_its_peer_by_EVM_channel_claims_both_ledgers_agree_and_the_claim_redeems_on_chain()
    {
        var deployer = new EvmChannelClient(node.RpcUrl, EvmNodeFixture.Accounts[0].Key, EvmNodeFixture.ChainId);
        string contract = (await deployer.DeployContractAsync()).ContractAddress;
        EvmPeerSettings Channel(string peerAddress) => new()
        {
            RpcUrl = new Uri(node.RpcUrl), ChainId = EvmNodeFixture.ChainId, Contract = contract, PeerAddress = peerAddress,
            DepositWei = Deposit, DisputePeriodSeconds = 3600,
        };

        var b = TestConnector.TwoPeers() with
        {
            NodeId = "b",
            IlpAddress = "g.b",
            EvmPrivateKey = EvmNodeFixture.Accounts[2].Key,
            Peers =
            [
                new PeerSettings { Id = "bob", AuthToken = "bob-secret" },
                new PeerSettings { Id = "a", AuthToken = "a-to-b", Settlement = new SettlementSettings(ulong.MaxValue, 0, SettlementMethodKind.None, null) { Evm = Channel(EvmNodeFixture.Accounts[1].Address) } },
            ],
            Routes = [new Route("g.bob", "bob"), new Route("g.alice", "a")],
        };
        await using var bHost = await TestConnector.StartAsync(b);
        var a = TestConnector.TwoPeers() with
        {
            NodeId = "a",
            IlpAddress = "g.a",
            EvmPrivateKey = EvmNodeFixture.Accounts[1].Key,
            Peers =
            [
                new PeerSettings { Id = "alice", AuthToken = "alice-secret" },
                new PeerSettings
                {
                    Id = "b", Url = new Uri($"ws://127.0.0.1:{bHost.BtpPort}/"), AuthToken = "a-to-b",
                    Settlement = new SettlementSettings(100, 0, SettlementMethodKind.Evm, null) { Evm = Channel(EvmNodeFixture.Accounts[2].Address) },
                },
            ],
            Routes = [new Route("g.alice", "alice"), new Route("g.bob", "b")],
        };
        await using var aHost = await TestConnector.StartAsync(a);
        await RoutingThroughConnectorTests.WaitUntil(() => aHost.Peers.IsConnected("b") && bHost.Peers.IsConnected("a"));
        await using var alice = await TestPeer.ConnectAsync(aHost.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(bHost.BtpPort, "bob", "bob-secret");

        Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.shop", 70)));
        Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.shop", 50)));

        await RoutingThroughConnectorTests.WaitUntil(() => aHost.Settlement.Store.List(SettlementState.Confirmed).Count == 1, seconds: 60);
        var settled = Assert.Single(aHost.Settlement.Store.List(SettlementState.Confirmed));
        Assert.Equal(("b", "evm", 120ul), (settled.PeerId, settled.Method, settled.Amount));

        // Both ledgers moved by exactly the settled amount.
        var bAtA = (await aHost.Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("b", Ledger)))!;
        var aAtB = (await bHost.Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("a", Ledger)))!;
        Assert.Equal(((UInt128)120, (UInt128)120), (bAtA.CreditsPosted, bAtA.DebitsPosted));
        Assert.Equal(((UInt128)120, (UInt128)120), (aAtB.DebitsPosted, aAtB.CreditsPosted));
        Assert.Equal(Int128.Zero, bAtA.PostedBalance);
        Assert.Equal(Int128.Zero, aAtB.PostedBalance);
        foreach (var host in new[] { aHost, bHost })
        {
            await Books.AssertConsistentAsync(host.Accounting.Ledger);
        }

        // Operators see the channels and the chain endpoint.
        using (var http = new HttpClient())
        {
            Assert.Contains("payment_channels_active{method=\"evm\",status=\"outgoing\"} 1", await http.GetStringAsync($"http://127.0.0.1:{aHost.HealthPort}/metrics"));
            Assert.Contains("payment_channels_active{method=\"evm\",status=\"incoming\"} 1", await http.GetStringAsync($"http://127.0.0.1:{bHost.HealthPort}/metrics"));
            string aMetrics = await http.GetStringAsync($"http://127.0.0.1:{aHost.HealthPort}/metrics");
            Assert.Contains("payment_channels_funded_total{method=\"evm\",asset=\"ETH\"} 1", aMetrics);
            Assert.Contains("payment_channels_disputes_total{method=\"evm\"} 0", aMetrics);
            var health = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{aHost.HealthPort}/health")).RootElement;
            Assert.Equal("up", health.GetProperty("dependencies").GetProperty("evm").GetProperty("status").GetString());
        }

        // The claim B keeps verifies against the chain's channel.
        var claim = bHost.EvmClaims!.Store.Latest("a")!;
        var expectedWei = 120 * WeiPerUnit;
        Assert.Equal(expectedWei, claim.CumulativeWei);
        var domain = new EvmClaimDomain(EvmNodeFixture.ChainId, contract);
        var onChain = (await deployer.GetChannelAsync(claim.ChannelId))!;
        Assert.True(EvmClaimVerifier.Verify(domain, claim.ChannelId, claim.CumulativeWei, claim.Signature, EvmNodeFixture.Accounts[1].Address, 0, onChain.Deposit).IsValid);
        Assert.Equal(Deposit, onChain.Deposit);

        // A resend of the same settlement id re-sends the same claim: nothing grows, nothing is credited twice.
        var receipt = await aHost.EvmPayer!.SettleAsync(settled, CancellationToken.None);
        Assert.Equal(settled.Reference, receipt.Reference);
        Assert.Equal(expectedWei, aHost.EvmPayer.Store.Channel("b")!.Value.CumulativeWei);
        Assert.Equal(expectedWei, aHost.EvmPayer.Store.ClaimFor(settled.Id)!.CumulativeWei);
        Assert.Equal(expectedWei, bHost.EvmClaims.Store.Latest("a")!.CumulativeWei);
        Assert.Equal((UInt128)120, (await bHost.Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("a", Ledger)))!.CreditsPosted);

        // A forged claim (signed by another key) is refused with a BTP ERROR and changes no ledger.
        var forgedWei = expectedWei + 5 * WeiPerUnit;
        var forged = new EvmClaimMessage(claim.ChannelId, forgedWei.ToString(CultureInfo.InvariantCulture),
            EvmClaimSigner.Sign(EvmNodeFixture.Accounts[3].Key, domain, claim.ChannelId, forgedWei), Guid.NewGuid().ToString(),
            EvmNodeFixture.ChainId.ToString(CultureInfo.InvariantCulture), contract);
        var refused = await Assert.ThrowsAsync<BtpRemoteException>(() => aHost.Peers.SessionOf("b")!.SendMessageAsync([new BtpProtocolData(EvmClaimMessage.ProtocolName, BtpContentType.ApplicationJson, forged.ToJson())]));
        Assert.Equal(BtpErrorCodes.NotAccepted, refused.Code);
        Assert.Contains("WrongSigner", refused.DataText, StringComparison.Ordinal);
        var afterForgery = (await bHost.Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("a", Ledger)))!;
        Assert.Equal(((UInt128)120, (UInt128)120), (afterForgery.DebitsPosted, afterForgery.CreditsPosted));
        Assert.Equal(expectedWei, bHost.EvmClaims.Store.Latest("a")!.CumulativeWei);

        // Redeeming the stored claim pays account 2 exactly the claimed wei, minus its gas.
        string recipient = EvmNodeFixture.Accounts[2].Address;
        var before = await deployer.GetBalanceAsync(recipient);
        var redeemed = await bHost.EvmClaims.RedeemAsync("a", CancellationToken.None);
        var after = await deployer.GetBalanceAsync(recipient);
        Assert.Equal(expectedWei, redeemed.Paid);
        Assert.Equal(before + expectedWei - redeemed.Transaction.GasCostWei, after);

        // A starts closing the channel: its next settlement finds it in dispute, refuses to sign, and counts it once.
        var payer = new EvmChannelClient(node.RpcUrl, EvmNodeFixture.Accounts[1].Key, EvmNodeFixture.ChainId, contract);
        await payer.StartCloseAsync(claim.ChannelId);
        var next = settled with { Id = Guid.NewGuid(), Amount = 10 };
        Assert.Contains("closing", (await Assert.ThrowsAsync<SettlementFailedException>(() => aHost.EvmPayer.SettleAsync(next, CancellationToken.None))).Message);
        await Assert.ThrowsAsync<SettlementFailedException>(() => aHost.EvmPayer.SettleAsync(next, CancellationToken.None));
        using var metricsClient = new HttpClient();
        Assert.Contains("payment_channels_disputes_total{method=\"evm\"} 1", await metricsClient.GetStringAsync($"http://127.0.0.1:{aHost.HealthPort}/metrics"));

        // The Explorers saw the channel's life: A opened it, sent the claim (twice: the resend), found it in dispute; B received one claim.
        var aEvents = await ExplorerEventsAsync(aHost, "channel_opened,claim_sent,channel_disputed,settlement_requested,settlement_paid", 6);
        var opened = Assert.Single(aEvents, e => e.Type == "channel_opened");
        Assert.Equal(("b", "evm", claim.ChannelId, Deposit.ToString(CultureInfo.InvariantCulture)), (opened.Peer, opened.Method, opened.ChannelId, opened.Amount));
        Assert.All(aEvents.Where(e => e.Type == "claim_sent"), e => Assert.Equal(("b", "120", expectedWei.ToString(CultureInfo.InvariantCulture)), (e.Peer, e.Amount, e.Reference)));
        Assert.Equal(2, aEvents.Count(e => e.Type == "claim_sent"));
        Assert.Contains(aEvents, e => e.Type == "channel_disputed" && e.ChannelId == claim.ChannelId);
        Assert.Contains(aEvents, e => e.Type == "settlement_paid" && e.Peer == "b" && e.Amount == "120" && e.Method == "evm");
        var received = Assert.Single(await ExplorerEventsAsync(bHost, "claim_received", 1));
        Assert.Equal(("a", "120", claim.ChannelId), (received.Peer, received.Amount, received.ChannelId));
    }

    private static async Task<IReadOnlyList<M2M.Server.Explorer.ExplorerEvent>> ExplorerEventsAsync(ConnectorHost host, string types, int atLeast)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var events = host.Explorer!.Store.Query(new M2M.Server.Explorer.ExplorerQuery { Type = types, Limit = 100 }).Events;
            if (events.Count >= atLeast || DateTime.UtcNow > deadline) return events;
            await Task.Delay(50);
        }
    }
}
