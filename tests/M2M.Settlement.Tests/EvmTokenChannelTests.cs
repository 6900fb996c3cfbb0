using System.Numerics;
using M2M.Settlement.Evm;
using M2M.TestKit;

namespace M2M.Settlement.Tests;

/// <summary>
/// ERC-20 channels (contracts/TokenChannel.sol) against a local ganache node, with the test-only token
/// (tests/evm/contracts/TestToken.sol) deployed by each test: token balances are checked to the base unit, and
/// gas is paid in ETH only.
/// </summary>
[Collection(EvmNodeCollection.Name)]
[Trait("Tier", "interop")]
public sealed class EvmTokenChannelTests(EvmNodeFixture node)
{
    private const byte Decimals = 6;
    private static readonly BigInteger Supply = BigInteger.Pow(10, 12);
    private static readonly BigInteger Deposit = 10_000_000; // 10 tokens of 6 decimals
    private const int DisputePeriod = 3600;

    private static string SenderKey => EvmNodeFixture.Accounts[0].Key;
    private static string SenderAddress => EvmNodeFixture.Accounts[0].Address;
    private static string RecipientAddress => EvmNodeFixture.Accounts[1].Address;

    private EvmChannelClient Client(int account, string token, string? contract = null) =>
        new(node.RpcUrl, EvmNodeFixture.Accounts[account].Key, EvmNodeFixture.ChainId, contract, token: token);

    private async Task<(TestTokenOnNode Token, EvmChannelClient Sender, EvmChannelClient Recipient)> DeployAsync()
    {
        var token = await TestTokenOnNode.DeployAsync(node, SenderAddress, "TUSD", Decimals, Supply);
        var sender = Client(0, token.Address);
        await sender.DeployContractAsync();
        return (token, sender, Client(1, token.Address, sender.ContractAddress));
    }

    [Fact]
    public async Task Open_pulls_the_approved_deposit_and_the_recipient_redeems_claims_in_exact_token_units()
    {
        var (token, sender, recipient) = await DeployAsync();
        string contract = sender.ContractAddress!;
        Assert.Equal(Decimals, await sender.GetTokenDecimalsAsync());
        var senderEthBefore = await sender.GetBalanceAsync(SenderAddress);

        var opened = await sender.OpenChannelAsync(RecipientAddress, Deposit, DisputePeriod);
        Assert.Equal(Deposit, opened.Deposit);
        Assert.Equal(Supply - Deposit, await token.BalanceOfAsync(SenderAddress));
        Assert.Equal(Deposit, await token.BalanceOfAsync(contract));
        Assert.Equal(BigInteger.Zero, await token.AllowanceAsync(SenderAddress, contract)); // approved exactly the deposit, all used
        Assert.Equal(BigInteger.Zero, await sender.GetBalanceAsync(contract)); // no ETH in a token channel
        Assert.True(senderEthBefore > await sender.GetBalanceAsync(SenderAddress)); // gas (approve + open), in ETH

        var state = (await recipient.GetChannelAsync(opened.ChannelId))!;
        Assert.Equal((SenderAddress, RecipientAddress, Deposit, BigInteger.Zero), (state.Sender, state.Recipient, state.Deposit, state.Claimed));
        Assert.True(SameAddress(token.Address, state.Token!));

        // The contract's digest is ours under its own domain: the claim shape is the ETH channel's.
        var domain = sender.Domain;
        Assert.Equal(Convert.ToHexString(await sender.GetClaimDigestAsync(opened.ChannelId, 1_500_000)),
            Convert.ToHexString(EvmClaimSigner.Digest(domain, opened.ChannelId, 1_500_000)));

        // Several claims; the recipient redeems the latest, then a later one pays only the difference.
        var sig1 = EvmClaimSigner.Sign(SenderKey, domain, opened.ChannelId, 1_000_000);
        var sig3 = EvmClaimSigner.Sign(SenderKey, domain, opened.ChannelId, 3_000_000);
        Assert.True(EvmClaimVerifier.Verify(domain, opened.ChannelId, 1_000_000, sig1, SenderAddress, 0, Deposit).IsValid);
        Assert.True(EvmClaimVerifier.Verify(domain, opened.ChannelId, 3_000_000, sig3, SenderAddress, 1_000_000, Deposit).IsValid);
        var recipientEth = await recipient.GetBalanceAsync(RecipientAddress);
        var redeemed = await recipient.ClaimAsync(opened.ChannelId, 3_000_000, sig3);
        Assert.Equal((new BigInteger(3_000_000), new BigInteger(3_000_000)), (redeemed.Paid, redeemed.CumulativeClaimed));
        Assert.Equal(new BigInteger(3_000_000), await token.BalanceOfAsync(RecipientAddress));
        Assert.Equal(Deposit - 3_000_000, await token.BalanceOfAsync(contract));
        Assert.Equal(recipientEth - redeemed.Transaction.GasCostWei, await recipient.GetBalanceAsync(RecipientAddress));

        var sig7 = EvmClaimSigner.Sign(SenderKey, domain, opened.ChannelId, 7_000_000);
        Assert.Equal(new BigInteger(4_000_000), (await recipient.ClaimAsync(opened.ChannelId, 7_000_000, sig7)).Paid);
        Assert.Equal(new BigInteger(7_000_000), await token.BalanceOfAsync(RecipientAddress));

        // Over the deposit: refused by our verifier and by the contract; nothing moves.
        var over = Deposit + 1;
        var sigOver = EvmClaimSigner.Sign(SenderKey, domain, opened.ChannelId, over);
        Assert.Equal(EvmClaimVerificationStatus.ExceedsDeposit, EvmClaimVerifier.Verify(domain, opened.ChannelId, over, sigOver, SenderAddress, 7_000_000, Deposit).Status);
        Assert.Equal("claim exceeds deposit", (await Assert.ThrowsAsync<EvmChannelException>(() => recipient.ClaimAsync(opened.ChannelId, over, sigOver))).RevertReason);
        Assert.Equal(new BigInteger(7_000_000), await token.BalanceOfAsync(RecipientAddress));

        // A top-up approves and pulls again; close and finalize refund the unclaimed tokens exactly.
        await sender.DepositAsync(opened.ChannelId, 2_000_000);
        Assert.Equal(Deposit + 2_000_000, (await sender.GetChannelAsync(opened.ChannelId))!.Deposit);
        Assert.Equal(Supply - Deposit - 2_000_000, await token.BalanceOfAsync(SenderAddress));
        await sender.StartCloseAsync(opened.ChannelId);
        await node.AdvanceTimeAsync(DisputePeriod + 1);
        var finalized = await sender.FinalizeAsync(opened.ChannelId);
        Assert.Equal((Deposit + 2_000_000 - 7_000_000, new BigInteger(7_000_000)), (finalized.Refunded, finalized.TotalClaimed));
        Assert.Equal(Supply - 7_000_000, await token.BalanceOfAsync(SenderAddress));
        Assert.Equal(BigInteger.Zero, await token.BalanceOfAsync(contract));
    }

    [Fact]
    public async Task A_channel_records_its_own_token_and_pays_only_that_token()
    {
        var (tokenA, sender, _) = await DeployAsync();
        var tokenB = await TestTokenOnNode.DeployAsync(node, SenderAddress, "TEUR", Decimals, Supply);
        var onB = Client(0, tokenB.Address, sender.ContractAddress);
        var channelB = (await onB.OpenChannelAsync(RecipientAddress, Deposit, DisputePeriod)).ChannelId;

        // Read through a client configured for token A, the channel still says it pays token B.
        var seenByA = (await sender.GetChannelAsync(channelB))!;
        Assert.True(SameAddress(tokenB.Address, seenByA.Token!));
        Assert.False(SameAddress(tokenA.Address, seenByA.Token!));

        // Redeeming moves token B only.
        var recipient = Client(1, tokenA.Address, sender.ContractAddress);
        var aBefore = await tokenA.BalanceOfAsync(RecipientAddress);
        var bBefore = await tokenB.BalanceOfAsync(RecipientAddress);
        await recipient.ClaimAsync(channelB, 2_000_000, EvmClaimSigner.Sign(SenderKey, sender.Domain, channelB, 2_000_000));
        Assert.Equal(aBefore, await tokenA.BalanceOfAsync(RecipientAddress));
        Assert.Equal(bBefore + 2_000_000, await tokenB.BalanceOfAsync(RecipientAddress));

        // Without an approval the contract cannot pull a deposit; an address with no code is no token.
        var unapproved = await Assert.ThrowsAsync<EvmChannelException>(() => new TestTokenRawOpen(node, sender.ContractAddress!, tokenA.Address).OpenWithoutApprovalAsync());
        Assert.Equal("token transferFrom failed", unapproved.RevertReason);
        var notToken = Client(0, EvmNodeFixture.Accounts[3].Address, sender.ContractAddress);
        Assert.Equal("token is not a contract", (await Assert.ThrowsAsync<EvmChannelException>(() => notToken.OpenChannelAsync(RecipientAddress, Deposit, DisputePeriod))).RevertReason);
    }

    [Fact]
    public async Task A_too_small_allowance_from_before_is_raised_to_the_deposit_and_a_large_enough_one_is_used_as_is()
    {
        var (token, sender, _) = await DeployAsync();
        await token.ApproveAsync(SenderAddress, sender.ContractAddress!, 1_234); // below the deposit: not enough, not zero
        var opened = await sender.OpenChannelAsync(RecipientAddress, Deposit, DisputePeriod);
        Assert.Equal(Deposit, (await sender.GetChannelAsync(opened.ChannelId))!.Deposit);
        Assert.Equal(BigInteger.Zero, await token.AllowanceAsync(SenderAddress, sender.ContractAddress!));

        await token.ApproveAsync(SenderAddress, sender.ContractAddress!, 5 * Deposit); // already enough: no new approve
        await sender.DepositAsync(opened.ChannelId, Deposit);
        Assert.Equal(4 * Deposit, await token.AllowanceAsync(SenderAddress, sender.ContractAddress!));
        Assert.Equal(2 * Deposit, await token.BalanceOfAsync(sender.ContractAddress!));
    }

    [Fact]
    public async Task One_ledger_unit_is_ten_to_the_decimals_minus_scale_base_units()
    {
        var (token, sender, _) = await DeployAsync();
        EvmPeer Peer(byte scale, string? tokenAddress) => new("p", "USD", scale, new EvmPeerSettings
        {
            RpcUrl = new Uri(node.RpcUrl), ChainId = EvmNodeFixture.ChainId, Contract = sender.ContractAddress!, PeerAddress = RecipientAddress, Token = tokenAddress,
        });
        Assert.Equal(new BigInteger(10_000), await EvmChannelUnits.PerLedgerUnitAsync(Peer(2, token.Address), sender, CancellationToken.None));
        Assert.Equal(BigInteger.One, await EvmChannelUnits.PerLedgerUnitAsync(Peer(6, token.Address), sender, CancellationToken.None));
        var tooFine = await Assert.ThrowsAsync<InvalidOperationException>(() => EvmChannelUnits.PerLedgerUnitAsync(Peer(7, token.Address), sender, CancellationToken.None));
        Assert.Equal($"peer 'p' asset scale 7 is above the token's 6 decimals ({token.Address})", tooFine.Message);
        // An address without code is no token (its decimals() would read as 0).
        var noCode = await Assert.ThrowsAsync<InvalidOperationException>(() => EvmChannelUnits.PerLedgerUnitAsync(Peer(2, EvmNodeFixture.Accounts[3].Address), sender, CancellationToken.None));
        Assert.Equal($"token {EvmNodeFixture.Accounts[3].Address} of peer 'p' has no contract code on chain {EvmNodeFixture.ChainId} (wrong address or wrong chain?)", noCode.Message);
        // ETH stays 10^(18 - scale) wei, without asking the chain.
        Assert.Equal(BigInteger.Pow(10, 9), await EvmChannelUnits.PerLedgerUnitAsync(Peer(9, null), sender, CancellationToken.None));
    }

    private static bool SameAddress(string a, string b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    /// <summary>Calls TokenChannel.open directly (no approve first) with the node's unlocked account 0.</summary>
    private sealed class TestTokenRawOpen(EvmNodeFixture node, string contract, string token)
    {
        public async Task OpenWithoutApprovalAsync()
        {
            // open(address,address,uint256,uint256) = 0x…; the selector comes from the ABI through Nethereum.
            var selector = new Nethereum.Util.Sha3Keccack().CalculateHash("open(address,address,uint256,uint256)")[..8];
            string data = "0x" + selector + Pad(token[2..]) + Pad(RecipientAddress[2..]) + Pad(Deposit.ToString("x", System.Globalization.CultureInfo.InvariantCulture)) + Pad("e10");
            try
            {
                await node.RpcAsync("eth_call", new { from = SenderAddress, to = contract, data }, "latest");
            }
            catch (InvalidOperationException e) when (e.Message.Contains("revert", StringComparison.Ordinal))
            {
                var reason = e.Message.Contains("token transferFrom failed", StringComparison.Ordinal) ? "token transferFrom failed" : e.Message;
                throw new EvmChannelException(e.Message, reason);
            }
        }

        private static string Pad(string hex) => hex.ToLowerInvariant().PadLeft(64, '0');
    }
}
