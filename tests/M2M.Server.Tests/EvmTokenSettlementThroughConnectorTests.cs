using System.Globalization;
using System.Net.Http.Headers;
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

/// <summary>
/// Two connectors settle over an ERC-20 payment channel (contracts/TokenChannel.sol on ganache, with the test-only
/// token deployed here): A approves and opens with a token deposit, pays B with cumulative claims in token base units,
/// B verifies them against the chain (channel, sender, token), credits its ledger and redeems; token balances exact.
/// </summary>
[Collection(EvmNodeCollection.Name)]
[Trait("Tier", "integration")]
public sealed class EvmTokenSettlementThroughConnectorTests(EvmNodeFixture node)
{
    private const string Admin = "admin-token-for-erc20-tests";
    private const byte Scale = 2; // USD cents in the ledgers
    private const byte Decimals = 6; // the token's: one cent is 10^4 base units
    private static readonly BigInteger PerUnit = 10_000;
    private static readonly BigInteger Deposit = 5_000_000; // 500 cents
    private static readonly BigInteger Funded = 50_000_000; // A's token balance before the channel
    private static readonly uint Ledger = PeerAccounts.LedgerFor("USD", Scale);

    private static string AAddress => EvmNodeFixture.Accounts[1].Address;
    private static string BAddress => EvmNodeFixture.Accounts[2].Address;

    [Fact(Timeout = 180_000)]
    public async Task Connector_settles_by_ERC20_channel_claims_ledgers_and_token_balances_exact_wrong_token_and_over_deposit_refused()
    {
        string deployer = EvmNodeFixture.Accounts[0].Address;
        var token = await TestTokenOnNode.DeployAsync(node, deployer, "TUSD", Decimals, BigInteger.Pow(10, 12));
        await token.TransferAsync(deployer, AAddress, Funded);
        var channelContract = new EvmChannelClient(node.RpcUrl, EvmNodeFixture.Accounts[0].Key, EvmNodeFixture.ChainId, token: token.Address);
        string contract = (await channelContract.DeployContractAsync()).ContractAddress;
        var bTokenBefore = await token.BalanceOfAsync(BAddress);
        EvmPeerSettings Channel(string peerAddress) => new()
        {
            RpcUrl = new Uri(node.RpcUrl), ChainId = EvmNodeFixture.ChainId, Contract = contract, PeerAddress = peerAddress,
            DepositWei = Deposit, DisputePeriodSeconds = 3600, Token = token.Address,
        };
        PeerSettings Cents(PeerSettings p) => p with { AssetCode = "USD", AssetScale = Scale };

        var b = TestConnector.TwoPeers() with
        {
            NodeId = "b",
            IlpAddress = "g.b",
            AdminApiToken = Admin,
            EvmPrivateKey = EvmNodeFixture.Accounts[2].Key,
            Peers =
            [
                Cents(new PeerSettings { Id = "bob", AuthToken = "bob-secret" }),
                Cents(new PeerSettings { Id = "a", AuthToken = "a-to-b", Settlement = new SettlementSettings(ulong.MaxValue, 0, SettlementMethodKind.None, null) { Evm = Channel(AAddress) } }),
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
                Cents(new PeerSettings { Id = "alice", AuthToken = "alice-secret" }),
                Cents(new PeerSettings
                {
                    Id = "b", Url = new Uri($"ws://127.0.0.1:{bHost.BtpPort}/"), AuthToken = "a-to-b",
                    Settlement = new SettlementSettings(100, 0, SettlementMethodKind.Evm, null) { Evm = Channel(BAddress) },
                }),
            ],
            Routes = [new Route("g.alice", "alice"), new Route("g.bob", "b")],
        };
        await using var aHost = await TestConnector.StartAsync(a);
        await RoutingThroughConnectorTests.WaitUntil(() => aHost.Peers.IsConnected("b") && bHost.Peers.IsConnected("a"));
        await using var alice = await TestPeer.ConnectAsync(aHost.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(bHost.BtpPort, "bob", "bob-secret");

        // Two rounds over the 100-cent threshold: two settlements of 120, two claims on one channel.
        Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.shop", 70)));
        Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.shop", 50)));
        await RoutingThroughConnectorTests.WaitUntil(() => aHost.Settlement.Store.List(SettlementState.Confirmed).Count == 1, seconds: 60);
        Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.shop", 60)));
        Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.shop", 60)));
        await RoutingThroughConnectorTests.WaitUntil(() => aHost.Settlement.Store.List(SettlementState.Confirmed).Count == 2, seconds: 60);
        var settled = aHost.Settlement.Store.List(SettlementState.Confirmed);
        Assert.All(settled, s => Assert.Equal(("b", "evm", 120ul), (s.PeerId, s.Method, s.Amount)));
        var expected = 240 * PerUnit;

        // The deposit left A's token balance exactly once; the contract holds it; the claims are in token base units.
        Assert.Equal(Funded - Deposit, await token.BalanceOfAsync(AAddress));
        Assert.Equal(Deposit, await token.BalanceOfAsync(contract));
        var (channelId, signed) = aHost.EvmPayer!.Store.Channel("b")!.Value;
        Assert.Equal(expected, signed);
        var claim = bHost.EvmClaims!.Store.Latest("a")!;
        Assert.Equal((channelId, expected), (claim.ChannelId, claim.CumulativeWei));
        var onChain = (await channelContract.GetChannelAsync(channelId))!;
        Assert.Equal((AAddress, BAddress, Deposit, BigInteger.Zero), (onChain.Sender, onChain.Recipient, onChain.Deposit, onChain.Claimed));
        Assert.Equal(token.Address, onChain.Token!, ignoreCase: true);

        // Both ledgers moved by exactly the settled 240 cents.
        await AssertLedgersAsync(aHost, bHost, 240);

        // Operators see the token channel counted under its asset.
        using (var http = new HttpClient())
        {
            string aMetrics = await http.GetStringAsync($"http://127.0.0.1:{aHost.HealthPort}/metrics");
            Assert.Contains($"payment_channels_funded_total{{method=\"evm\",asset=\"{token.Address.ToLowerInvariant()}\"}} 1", aMetrics);
            Assert.Contains("payment_channels_funded_total{method=\"evm\",asset=\"ETH\"} 0", aMetrics);
            Assert.Contains("payment_channels_active{method=\"evm\",status=\"outgoing\"} 1", aMetrics);
        }

        var domain = new EvmClaimDomain(EvmNodeFixture.ChainId, contract);
        var session = aHost.Peers.SessionOf("b")!;
        async Task<string> RefusedAsync(EvmClaimMessage m)
        {
            var e = await Assert.ThrowsAsync<BtpRemoteException>(() => session.SendMessageAsync([new BtpProtocolData(EvmClaimMessage.ProtocolName, BtpContentType.ApplicationJson, m.ToJson())]));
            Assert.Equal(BtpErrorCodes.NotAccepted, e.Code);
            return e.DataText;
        }
        EvmClaimMessage Message(string channel, BigInteger cumulative) => new(channel, cumulative.ToString(CultureInfo.InvariantCulture),
            EvmClaimSigner.Sign(EvmNodeFixture.Accounts[1].Key, domain, channel, cumulative), Guid.NewGuid().ToString(),
            EvmNodeFixture.ChainId.ToString(CultureInfo.InvariantCulture), contract);

        // A claim over the deposit, correctly signed by A, is refused.
        Assert.Contains("ExceedsDeposit", await RefusedAsync(Message(channelId, Deposit + PerUnit)), StringComparison.Ordinal);

        // A claim on A's channel of another token (same contract, same sender and recipient) is refused: it is not the configured token.
        var otherToken = await TestTokenOnNode.DeployAsync(node, deployer, "TEUR", Decimals, BigInteger.Pow(10, 12));
        await otherToken.TransferAsync(deployer, AAddress, Funded);
        var otherChannel = (await new EvmChannelClient(node.RpcUrl, EvmNodeFixture.Accounts[1].Key, EvmNodeFixture.ChainId, contract, token: otherToken.Address)
            .OpenChannelAsync(BAddress, Deposit, 3600)).ChannelId;
        Assert.Contains("pays token", await RefusedAsync(Message(otherChannel, expected + 10 * PerUnit)), StringComparison.Ordinal);

        // A claim on a channel that does not exist is refused.
        Assert.Contains("does not exist on chain", await RefusedAsync(Message("0x" + new string('7', 64), expected + 10 * PerUnit)), StringComparison.Ordinal);

        // Nothing of the refused claims reached a ledger or the stored claim.
        await AssertLedgersAsync(aHost, bHost, 240);
        Assert.Equal(expected, bHost.EvmClaims.Store.Latest("a")!.CumulativeWei);

        // The payer refuses to sign past its deposit (240 + 300 > 500 cents) and says so in token units.
        var beyond = settled[0] with { Id = Guid.NewGuid(), Amount = 300 };
        var refusedByPayer = await Assert.ThrowsAsync<SettlementFailedException>(() => aHost.EvmPayer.SettleAsync(beyond, CancellationToken.None));
        Assert.Contains($"claim of {expected + 300 * PerUnit} base units of token", refusedByPayer.Message, StringComparison.Ordinal);
        Assert.Equal(expected, aHost.EvmPayer.Store.Channel("b")!.Value.CumulativeWei);

        // B redeems through the admin API: B's token balance grows by exactly the claimed amount; A's is untouched.
        using (var http = new HttpClient())
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Admin);
            using var response = await http.PostAsync($"http://127.0.0.1:{bHost.HealthPort}/settlement/redeem/a", null);
            string body = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, body);
            var json = System.Text.Json.JsonDocument.Parse(body).RootElement;
            Assert.Equal(token.Address.ToLowerInvariant(), json.GetProperty("asset").GetString());
            Assert.Equal(expected.ToString(CultureInfo.InvariantCulture), json.GetProperty("paidWei").GetString());
        }
        Assert.Equal(bTokenBefore + expected, await token.BalanceOfAsync(BAddress));
        Assert.Equal(Deposit - expected, await token.BalanceOfAsync(contract));
        Assert.Equal(Funded - Deposit, await token.BalanceOfAsync(AAddress));
        Assert.Equal(expected, (await channelContract.GetChannelAsync(channelId))!.Claimed);
    }

    private static async Task AssertLedgersAsync(ConnectorHost aHost, ConnectorHost bHost, ulong settled)
    {
        var bAtA = (await aHost.Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("b", Ledger)))!;
        var aAtB = (await bHost.Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("a", Ledger)))!;
        Assert.Equal(((UInt128)settled, (UInt128)settled), (bAtA.CreditsPosted, bAtA.DebitsPosted));
        Assert.Equal(((UInt128)settled, (UInt128)settled), (aAtB.DebitsPosted, aAtB.CreditsPosted));
        Assert.Equal(Int128.Zero, bAtA.PostedBalance);
        Assert.Equal(Int128.Zero, aAtB.PostedBalance);
        var settlementAtB = (await bHost.Accounting.Ledger.LookupAccountAsync(PeerAccounts.SettlementAccount("USD", Scale).Id))!;
        Assert.Equal((UInt128)settled, settlementAtB.DebitsPosted);
        await Books.AssertConsistentAsync(aHost.Accounting.Ledger);
        await Books.AssertConsistentAsync(bHost.Accounting.Ledger);
    }
}
