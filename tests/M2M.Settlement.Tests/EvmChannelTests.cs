using System.Numerics;
using M2M.TestKit;
using M2M.Settlement.Evm;

namespace M2M.Settlement.Tests;

/// <summary>End-to-end channel tests against a local ganache node (see <see cref="EvmNodeFixture"/>).</summary>
[Collection(EvmNodeCollection.Name)]
[Trait("Tier", "interop")]
public sealed class EvmChannelTests(EvmNodeFixture node)
{
    /// <summary>One test unit: 10^15 wei.</summary>
    private static readonly BigInteger Unit = BigInteger.Pow(10, 15);
    private static readonly BigInteger Deposit = 10 * Unit;
    private const int DisputePeriod = 3600;

    private static string SenderKey => EvmNodeFixture.Accounts[0].Key;
    private static string SenderAddress => EvmNodeFixture.Accounts[0].Address;
    private static string RecipientAddress => EvmNodeFixture.Accounts[1].Address;
    private static string StrangerKey => EvmNodeFixture.Accounts[2].Key;

    private EvmChannelClient Client(int account, string? contract = null, bool legacy = false) =>
        new(node.RpcUrl, EvmNodeFixture.Accounts[account].Key, EvmNodeFixture.ChainId, contract, legacy);

    /// <summary>Deploys a fresh contract and opens a channel 0 → 1 with <see cref="Deposit"/>.</summary>
    private async Task<(EvmChannelClient Sender, EvmChannelClient Recipient, string ChannelId)> OpenAsync()
    {
        var sender = Client(0);
        await sender.DeployContractAsync();
        var opened = await sender.OpenChannelAsync(RecipientAddress, Deposit, DisputePeriod);
        return (sender, Client(1, sender.ContractAddress), opened.ChannelId);
    }

    private static async Task<EvmChannelException> AssertRevertAsync(Func<Task> action, string reason)
    {
        var ex = await Assert.ThrowsAsync<EvmChannelException>(action);
        Assert.Equal(reason, ex.RevertReason);
        return ex;
    }

    [Fact]
    public async Task Node_accounts_match_the_deterministic_keys()
    {
        var accounts = await node.RpcAsync("eth_accounts");
        var listed = accounts.EnumerateArray().Select(a => a.GetString()!.ToLowerInvariant()).ToList();
        foreach (var (key, address) in EvmNodeFixture.Accounts)
        {
            Assert.Contains(address.ToLowerInvariant(), listed);
            Assert.Equal(address, Client(Array.FindIndex(EvmNodeFixture.Accounts, a => a.Key == key)).AccountAddress);
        }
    }

    [Fact]
    public async Task Deploy_creates_contract_whose_EIP712_digest_matches_ours()
    {
        var client = Client(0);
        Assert.Equal(EvmNodeFixture.ChainId, (int)await client.GetNodeChainIdAsync());
        var deployed = await client.DeployContractAsync();

        Assert.True(deployed.Transaction.GasUsed > 0);
        var code = await node.RpcAsync("eth_getCode", deployed.ContractAddress, "latest");
        Assert.True(code.GetString()!.Length > 100);

        var channelId = "0x" + new string('a', 64);
        foreach (var amount in new[] { BigInteger.One, 3 * Unit, EvmClaimEncodingMax })
        {
            var onChain = await client.GetClaimDigestAsync(channelId, amount);
            Assert.Equal(Convert.ToHexString(onChain), Convert.ToHexString(EvmClaimSigner.Digest(client.Domain, channelId, amount)));
        }
        Assert.Null(await client.GetChannelAsync(channelId));
    }

    [Fact]
    public async Task Our_signature_is_byte_identical_to_the_node_eth_signTypedData_v4()
    {
        var client = Client(0);
        await client.DeployContractAsync();
        var channelId = "0x" + string.Concat(Enumerable.Repeat("0123456789abcdef", 4));
        var amount = 3 * Unit;
        var typedData = new Dictionary<string, object>
        {
            ["types"] = new Dictionary<string, object>
            {
                ["EIP712Domain"] = new[]
                {
                    new { name = "name", type = "string" }, new { name = "version", type = "string" },
                    new { name = "chainId", type = "uint256" }, new { name = "verifyingContract", type = "address" },
                },
                ["Claim"] = new[] { new { name = "channelId", type = "bytes32" }, new { name = "cumulativeAmount", type = "uint256" } },
            },
            ["primaryType"] = "Claim",
            ["domain"] = new { name = "M2MChannel", version = "1", chainId = EvmNodeFixture.ChainId, verifyingContract = client.ContractAddress },
            ["message"] = new { channelId, cumulativeAmount = amount.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        };
        var nodeSignature = (await node.RpcAsync("eth_signTypedData_v4", SenderAddress.ToLowerInvariant(), typedData)).GetString()!;
        var ours = EvmClaimSigner.Sign(SenderKey, client.Domain, channelId, amount);
        Assert.Equal(nodeSignature.ToLowerInvariant(), ours.ToLowerInvariant());
    }

    private static readonly BigInteger EvmClaimEncodingMax = (BigInteger.One << 256) - 1;

    [Fact]
    public async Task Recipient_redeems_latest_claim_and_later_only_the_difference()
    {
        var (sender, recipient, channelId) = await OpenAsync();
        var state = await sender.GetChannelAsync(channelId);
        Assert.NotNull(state);
        Assert.Equal(SenderAddress, state.Sender);
        Assert.Equal(RecipientAddress, state.Recipient);
        Assert.Equal(Deposit, state.Deposit);
        Assert.Equal(BigInteger.Zero, state.Claimed);
        Assert.Equal(Deposit, await sender.GetBalanceAsync(sender.ContractAddress!));

        // Sender signs cumulative claims 1 then 3; the recipient accepts both off chain.
        var domain = sender.Domain;
        var sig1 = EvmClaimSigner.Sign(SenderKey, domain, channelId, 1 * Unit);
        var sig3 = EvmClaimSigner.Sign(SenderKey, domain, channelId, 3 * Unit);
        var v1 = EvmClaimVerifier.Verify(domain, channelId, 1 * Unit, sig1, SenderAddress, 0, Deposit);
        Assert.Equal(EvmClaimVerificationStatus.Valid, v1.Status);
        Assert.Equal(SenderAddress, v1.RecoveredSigner);
        Assert.True(EvmClaimVerifier.Verify(domain, channelId, 3 * Unit, sig3, SenderAddress, 1 * Unit, Deposit).IsValid);

        // The recipient redeems only the latest.
        var before = await recipient.GetBalanceAsync(RecipientAddress);
        var claim3 = await recipient.ClaimAsync(channelId, 3 * Unit, sig3);
        var after = await recipient.GetBalanceAsync(RecipientAddress);
        Assert.Equal(3 * Unit, claim3.Paid);
        Assert.Equal(3 * Unit, claim3.CumulativeClaimed);
        Assert.Equal("0x2", (await node.RpcAsync("eth_getTransactionByHash", claim3.Transaction.TransactionHash)).GetProperty("type").GetString());
        Assert.True(claim3.Transaction.GasCostWei > 0);
        Assert.Equal(3 * Unit - claim3.Transaction.GasCostWei, after - before);
        Assert.Equal(3 * Unit, (await recipient.GetChannelAsync(channelId))!.Claimed);
        Assert.Equal(Deposit - 3 * Unit, await sender.GetBalanceAsync(sender.ContractAddress!));

        // A higher cumulative claim pays only the difference (5 - 3 = 2 units).
        var sig5 = EvmClaimSigner.Sign(SenderKey, domain, channelId, 5 * Unit);
        Assert.True(EvmClaimVerifier.Verify(domain, channelId, 5 * Unit, sig5, SenderAddress, 3 * Unit, Deposit).IsValid);
        before = after;
        var claim5 = await recipient.ClaimAsync(channelId, 5 * Unit, sig5);
        after = await recipient.GetBalanceAsync(RecipientAddress);
        Assert.Equal(2 * Unit, claim5.Paid);
        Assert.Equal(2 * Unit - claim5.Transaction.GasCostWei, after - before);
        Assert.Equal(5 * Unit, (await recipient.GetChannelAsync(channelId))!.Claimed);

        // Redeeming the whole deposit works too.
        var sig10 = EvmClaimSigner.Sign(SenderKey, domain, channelId, Deposit);
        Assert.Equal(5 * Unit, (await recipient.ClaimAsync(channelId, Deposit, sig10)).Paid);
        Assert.Equal(BigInteger.Zero, await sender.GetBalanceAsync(sender.ContractAddress!));
    }

    [Fact]
    public async Task Legacy_transactions_account_gas_the_same_way()
    {
        var sender = Client(0, legacy: true);
        await sender.DeployContractAsync();
        var channelId = (await sender.OpenChannelAsync(RecipientAddress, Deposit, DisputePeriod)).ChannelId;
        var recipient = Client(1, sender.ContractAddress, legacy: true);
        var sig = EvmClaimSigner.Sign(SenderKey, sender.Domain, channelId, 2 * Unit);
        var before = await recipient.GetBalanceAsync(RecipientAddress);
        var claim = await recipient.ClaimAsync(channelId, 2 * Unit, sig);
        Assert.Equal("0x0", (await node.RpcAsync("eth_getTransactionByHash", claim.Transaction.TransactionHash)).GetProperty("type").GetString());
        Assert.Equal(2 * Unit - claim.Transaction.GasCostWei, await recipient.GetBalanceAsync(RecipientAddress) - before);
    }

    [Fact]
    public async Task Invalid_claims_are_rejected_by_our_verifier_and_revert_on_chain()
    {
        var (sender, recipient, channelId) = await OpenAsync();
        var domain = sender.Domain;
        var sig3 = EvmClaimSigner.Sign(SenderKey, domain, channelId, 3 * Unit);
        await recipient.ClaimAsync(channelId, 3 * Unit, sig3);

        // Above the deposit.
        var sig11 = EvmClaimSigner.Sign(SenderKey, domain, channelId, 11 * Unit);
        Assert.Equal(EvmClaimVerificationStatus.ExceedsDeposit,
            EvmClaimVerifier.Verify(domain, channelId, 11 * Unit, sig11, SenderAddress, 3 * Unit, Deposit).Status);
        await AssertRevertAsync(() => recipient.ClaimAsync(channelId, 11 * Unit, sig11), "claim exceeds deposit");

        // Not monotonic: below and equal to what was already claimed.
        var sig2 = EvmClaimSigner.Sign(SenderKey, domain, channelId, 2 * Unit);
        Assert.Equal(EvmClaimVerificationStatus.NotAboveLastAccepted,
            EvmClaimVerifier.Verify(domain, channelId, 2 * Unit, sig2, SenderAddress, 3 * Unit, Deposit).Status);
        Assert.Equal(EvmClaimVerificationStatus.NotAboveLastAccepted,
            EvmClaimVerifier.Verify(domain, channelId, 3 * Unit, sig3, SenderAddress, 3 * Unit, Deposit).Status);
        await AssertRevertAsync(() => recipient.ClaimAsync(channelId, 2 * Unit, sig2), "claim not above claimed");
        await AssertRevertAsync(() => recipient.ClaimAsync(channelId, 3 * Unit, sig3), "claim not above claimed");

        // Signed by the wrong key.
        var forged = EvmClaimSigner.Sign(StrangerKey, domain, channelId, 4 * Unit);
        var wrong = EvmClaimVerifier.Verify(domain, channelId, 4 * Unit, forged, SenderAddress, 3 * Unit, Deposit);
        Assert.Equal(EvmClaimVerificationStatus.WrongSigner, wrong.Status);
        Assert.Equal(EvmNodeFixture.Accounts[2].Address, wrong.RecoveredSigner);
        await AssertRevertAsync(() => recipient.ClaimAsync(channelId, 4 * Unit, forged), "bad signature");

        // A valid signature for another amount, another channel or another contract does not transfer.
        var sig4 = EvmClaimSigner.Sign(SenderKey, domain, channelId, 4 * Unit);
        Assert.Equal(EvmClaimVerificationStatus.WrongSigner,
            EvmClaimVerifier.Verify(domain, channelId, 5 * Unit, sig4, SenderAddress, 3 * Unit, Deposit).Status);
        await AssertRevertAsync(() => recipient.ClaimAsync(channelId, 5 * Unit, sig4), "bad signature");
        var otherDomain = domain with { VerifyingContract = EvmNodeFixture.Accounts[3].Address };
        var sigOtherDomain = EvmClaimSigner.Sign(SenderKey, otherDomain, channelId, 4 * Unit);
        Assert.False(EvmClaimVerifier.Verify(domain, channelId, 4 * Unit, sigOtherDomain, SenderAddress, 3 * Unit, Deposit).IsValid);
        await AssertRevertAsync(() => recipient.ClaimAsync(channelId, 4 * Unit, sigOtherDomain), "bad signature");

        // The malleable twin (s' = n - s) of a valid signature is rejected by both.
        var malleable = Malleate(sig4);
        Assert.Equal(EvmClaimVerificationStatus.MalleableSignature,
            EvmClaimVerifier.Verify(domain, channelId, 4 * Unit, malleable, SenderAddress, 3 * Unit, Deposit).Status);
        await AssertRevertAsync(() => recipient.ClaimAsync(channelId, 4 * Unit, malleable), "bad signature");

        // Only the recipient can redeem.
        await AssertRevertAsync(() => Client(2, sender.ContractAddress).ClaimAsync(channelId, 4 * Unit, sig4), "not recipient");

        // Sent anyway without gas estimation, a bad claim is mined and fails on chain; the recipient only loses gas.
        recipient.FixedGasLimit = 200_000;
        var before = await recipient.GetBalanceAsync(RecipientAddress);
        var failed = await Assert.ThrowsAsync<EvmChannelException>(() => recipient.ClaimAsync(channelId, 11 * Unit, sig11));
        Assert.NotNull(failed.TransactionHash);
        var receipt = await node.RpcAsync("eth_getTransactionReceipt", failed.TransactionHash!);
        Assert.Equal("0x0", receipt.GetProperty("status").GetString());
        var gasCost = HexToBig(receipt.GetProperty("gasUsed").GetString()!) * HexToBig(receipt.GetProperty("effectiveGasPrice").GetString()!);
        Assert.Equal(before - gasCost, await recipient.GetBalanceAsync(RecipientAddress));

        // Nothing moved: still 3 claimed, and the valid next claim still works.
        Assert.Equal(3 * Unit, (await sender.GetChannelAsync(channelId))!.Claimed);
        recipient.FixedGasLimit = null;
        Assert.Equal(1 * Unit, (await recipient.ClaimAsync(channelId, 4 * Unit, sig4)).Paid);
    }

    [Fact]
    public async Task StartClose_then_finalize_after_dispute_period_refunds_sender()
    {
        var (sender, recipient, channelId) = await OpenAsync();
        var domain = sender.Domain;
        await sender.DepositAsync(channelId, 2 * Unit);
        var deposit = Deposit + 2 * Unit;
        Assert.Equal(deposit, (await sender.GetChannelAsync(channelId))!.Deposit);

        await recipient.ClaimAsync(channelId, 4 * Unit, EvmClaimSigner.Sign(SenderKey, domain, channelId, 4 * Unit));

        await AssertRevertAsync(() => recipient.StartCloseAsync(channelId), "not sender");
        await AssertRevertAsync(() => sender.FinalizeAsync(channelId), "not closing");
        await sender.StartCloseAsync(channelId);
        var closing = (await sender.GetChannelAsync(channelId))!;
        Assert.True(closing.IsClosing);
        Assert.True(closing.ClosesAt > 0);
        await AssertRevertAsync(() => sender.FinalizeAsync(channelId), "dispute period not over");
        await AssertRevertAsync(() => sender.DepositAsync(channelId, Unit), "channel closing");

        // The recipient can still claim during the dispute period.
        var claim = await recipient.ClaimAsync(channelId, 6 * Unit, EvmClaimSigner.Sign(SenderKey, domain, channelId, 6 * Unit));
        Assert.Equal(2 * Unit, claim.Paid);

        await node.AdvanceTimeAsync(DisputePeriod + 1);
        var before = await sender.GetBalanceAsync(SenderAddress);
        var finalized = await sender.FinalizeAsync(channelId);
        var after = await sender.GetBalanceAsync(SenderAddress);
        Assert.Equal(deposit - 6 * Unit, finalized.Refunded);
        Assert.Equal(6 * Unit, finalized.TotalClaimed);
        Assert.Equal(deposit - 6 * Unit - finalized.Transaction.GasCostWei, after - before);
        Assert.Equal(BigInteger.Zero, await sender.GetBalanceAsync(sender.ContractAddress!));
        Assert.True((await sender.GetChannelAsync(channelId))!.Finalized);

        // Nothing more can be claimed or finalized.
        var late = EvmClaimSigner.Sign(SenderKey, domain, channelId, 7 * Unit);
        await AssertRevertAsync(() => recipient.ClaimAsync(channelId, 7 * Unit, late), "channel finalized");
        await AssertRevertAsync(() => sender.FinalizeAsync(channelId), "channel finalized");
    }

    private static BigInteger HexToBig(string hex) => BigInteger.Parse("0" + hex[2..], System.Globalization.NumberStyles.HexNumber);

    /// <summary>The other valid signature of the same digest: (r, n - s, v ^ 1).</summary>
    internal static string Malleate(string signatureHex)
    {
        var n = BigInteger.Parse("0FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", System.Globalization.NumberStyles.HexNumber);
        var sig = Convert.FromHexString(signatureHex[2..]);
        var s = new BigInteger(sig.AsSpan(32, 32), isUnsigned: true, isBigEndian: true);
        var highS = (n - s).ToByteArray(isUnsigned: true, isBigEndian: true);
        var result = new byte[65];
        sig.AsSpan(0, 32).CopyTo(result);
        highS.CopyTo(result.AsSpan(64 - highS.Length));
        result[64] = (byte)(sig[64] == 27 ? 28 : 27);
        return "0x" + Convert.ToHexString(result).ToLowerInvariant();
    }
}
