using System.Numerics;
using M2M.Settlement.Evm;

namespace M2M.Settlement.Tests;

/// <summary>Signer/verifier tests that need no node.</summary>
[Trait("Tier", "unit")]
public sealed class EvmClaimVerifierTests
{
    private const string Key = "0x4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d";
    private const string Address = "0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1";
    private const string OtherKey = "0x6cbed15c793ce57650b9877cf6fa156fbef513c4e6134f022a85b1ffdd59b2a1";
    private static readonly EvmClaimDomain Domain = new(1337, "0x5b1869D9A4C187F2EAa108f3062412ecf0526b24");
    private static readonly string ChannelId = "0x" + new string('1', 64);
    private static readonly BigInteger Deposit = BigInteger.Pow(10, 18);
    private static readonly BigInteger Max = (BigInteger.One << 256) - 1;

    private static EvmClaimVerificationStatus Check(string? sig, BigInteger amount, BigInteger lastAccepted = default, EvmClaimDomain? domain = null, string? channelId = null, string? sender = Address, BigInteger? deposit = null) =>
        EvmClaimVerifier.Verify(domain ?? Domain, channelId ?? ChannelId, amount, sig, sender, lastAccepted, deposit ?? Deposit).Status;

    [Fact]
    public void Signed_claim_verifies_and_recovers_the_sender()
    {
        var sig = EvmClaimSigner.Sign(Key, Domain, ChannelId, 1000);
        Assert.Matches("^0x[0-9a-f]{130}$", sig);
        var result = EvmClaimVerifier.Verify(Domain, ChannelId, 1000, sig, Address.ToLowerInvariant(), 999, 1000);
        Assert.True(result.IsValid, result.ToString());
        Assert.Equal(Address, result.RecoveredSigner);
        Assert.Equal(Address, EvmClaimVerifier.RecoverSigner(Domain, ChannelId, 1000, sig));
        // The signature is bound to the amount, the channel, the chain and the contract.
        Assert.Equal(EvmClaimVerificationStatus.WrongSigner, Check(sig, 1001));
        Assert.Equal(EvmClaimVerificationStatus.WrongSigner, Check(sig, 1000, channelId: "0x" + new string('2', 64)));
        Assert.Equal(EvmClaimVerificationStatus.WrongSigner, Check(sig, 1000, domain: Domain with { ChainId = 1 }));
        Assert.Equal(EvmClaimVerificationStatus.WrongSigner, Check(sig, 1000, domain: Domain with { VerifyingContract = Address }));
        Assert.Equal(EvmClaimVerificationStatus.WrongSigner, Check(EvmClaimSigner.Sign(OtherKey, Domain, ChannelId, 1000), 1000));
    }

    [Fact]
    public void Amount_rules_monotonic_and_within_deposit()
    {
        var sig = EvmClaimSigner.Sign(Key, Domain, ChannelId, 500);
        Assert.Equal(EvmClaimVerificationStatus.Valid, Check(sig, 500, lastAccepted: 499, deposit: 500));
        Assert.Equal(EvmClaimVerificationStatus.NotAboveLastAccepted, Check(sig, 500, lastAccepted: 500));
        Assert.Equal(EvmClaimVerificationStatus.NotAboveLastAccepted, Check(sig, 500, lastAccepted: 501));
        Assert.Equal(EvmClaimVerificationStatus.ExceedsDeposit, Check(sig, 500, deposit: 499));
        var maxSig = EvmClaimSigner.Sign(Key, Domain, ChannelId, Max);
        Assert.Equal(EvmClaimVerificationStatus.Valid, Check(maxSig, Max, deposit: Max));
        Assert.Equal(EvmClaimVerificationStatus.InvalidAmount, Check(sig, -1));
        Assert.Equal(EvmClaimVerificationStatus.InvalidAmount, Check(sig, Max + 1));
        Assert.Equal(EvmClaimVerificationStatus.InvalidAmount, Check(sig, 500, lastAccepted: -1));
        Assert.Equal(EvmClaimVerificationStatus.InvalidAmount, Check(sig, 500, deposit: Max + 1));
    }

    [Fact]
    public void V_as_0_or_1_is_accepted_like_the_contract_and_high_s_is_rejected()
    {
        var sig = EvmClaimSigner.Sign(Key, Domain, ChannelId, 7);
        var bytes = Convert.FromHexString(sig[2..]);
        bytes[64] -= 27;
        Assert.Equal(EvmClaimVerificationStatus.Valid, Check("0x" + Convert.ToHexString(bytes), 7));
        Assert.Equal(EvmClaimVerificationStatus.Valid, Check(sig[2..], 7)); // 0x prefix optional
        Assert.Equal(EvmClaimVerificationStatus.MalleableSignature, Check(EvmChannelTests.Malleate(sig), 7));
    }

    [Fact]
    public void Signer_always_produces_low_s_and_v_27_or_28()
    {
        var halfN = BigInteger.Parse("7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0", System.Globalization.NumberStyles.HexNumber);
        for (var amount = 1; amount <= 64; amount++)
        {
            var sig = Convert.FromHexString(EvmClaimSigner.Sign(Key, Domain, ChannelId, amount)[2..]);
            Assert.True(new BigInteger(sig.AsSpan(32, 32), isUnsigned: true, isBigEndian: true) <= halfN);
            Assert.True(sig[64] is 27 or 28);
        }
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("0x")]
    [InlineData("0xzz")]
    [InlineData("0x123")]
    [InlineData("not hex at all")]
    public void Malformed_signatures_are_reported_not_thrown(string? sig)
    {
        Assert.Equal(EvmClaimVerificationStatus.MalformedSignature, Check(sig, 1));
        Assert.Null(EvmClaimVerifier.RecoverSigner(Domain, ChannelId, 1, sig));
    }

    [Fact]
    public void Structurally_bad_signatures_are_malformed()
    {
        var good = Convert.FromHexString(EvmClaimSigner.Sign(Key, Domain, ChannelId, 1)[2..]);
        string Hex(byte[] b) => "0x" + Convert.ToHexString(b);
        Assert.Equal(EvmClaimVerificationStatus.MalformedSignature, Check(Hex(good[..64]), 1));
        Assert.Equal(EvmClaimVerificationStatus.MalformedSignature, Check(Hex([.. good, 0]), 1));
        var badV = (byte[])good.Clone(); badV[64] = 29;
        Assert.Equal(EvmClaimVerificationStatus.MalformedSignature, Check(Hex(badV), 1));
        var zeroR = (byte[])good.Clone(); Array.Clear(zeroR, 0, 32);
        Assert.Equal(EvmClaimVerificationStatus.MalformedSignature, Check(Hex(zeroR), 1));
        var zeroS = (byte[])good.Clone(); Array.Clear(zeroS, 32, 32);
        Assert.Equal(EvmClaimVerificationStatus.MalformedSignature, Check(Hex(zeroS), 1));
        var bigR = (byte[])good.Clone(); Array.Fill(bigR, (byte)0xff, 0, 32);
        Assert.Equal(EvmClaimVerificationStatus.MalformedSignature, Check(Hex(bigR), 1));
        Assert.Equal(EvmClaimVerificationStatus.MalformedSignature, Check(Hex(new byte[65]), 1));
    }

    [Fact]
    public void Malformed_context_is_reported_not_thrown()
    {
        var sig = EvmClaimSigner.Sign(Key, Domain, ChannelId, 1);
        Assert.Equal(EvmClaimVerificationStatus.InvalidDomain, EvmClaimVerifier.Verify(null, ChannelId, 1, sig, Address, 0, 10).Status);
        Assert.Equal(EvmClaimVerificationStatus.InvalidDomain, Check(sig, 1, domain: Domain with { ChainId = 0 }));
        Assert.Equal(EvmClaimVerificationStatus.InvalidDomain, Check(sig, 1, domain: Domain with { VerifyingContract = "0x1234" }));
        Assert.Equal(EvmClaimVerificationStatus.InvalidDomain, Check(sig, 1, domain: new EvmClaimDomain(1337, null!)));
        Assert.Equal(EvmClaimVerificationStatus.MalformedChannelId, EvmClaimVerifier.Verify(Domain, null, 1, sig, Address, 0, 10).Status);
        Assert.Equal(EvmClaimVerificationStatus.MalformedChannelId, Check(sig, 1, channelId: "0x1234"));
        Assert.Equal(EvmClaimVerificationStatus.MalformedChannelId, Check(sig, 1, channelId: "0x" + new string('g', 64)));
        Assert.Equal(EvmClaimVerificationStatus.MalformedSender, Check(sig, 1, sender: null));
        Assert.Equal(EvmClaimVerificationStatus.MalformedSender, Check(sig, 1, sender: "bob"));
        Assert.Null(EvmClaimVerifier.RecoverSigner(null, ChannelId, 1, sig));
    }

    [Fact]
    public void Random_signatures_never_throw_and_never_verify()
    {
        var rng = new Random(42);
        for (var i = 0; i < 300; i++)
        {
            var bytes = new byte[rng.Next(0, 2) == 0 ? 65 : rng.Next(0, 100)];
            rng.NextBytes(bytes);
            if (bytes.Length == 65) bytes[64] = (byte)(27 + rng.Next(0, 2));
            var result = EvmClaimVerifier.Verify(Domain, ChannelId, 1, "0x" + Convert.ToHexString(bytes), Address, 0, 10);
            Assert.False(result.IsValid);
        }
    }

    [Fact]
    public void Signer_rejects_bad_arguments()
    {
        Assert.Throws<ArgumentException>(() => EvmClaimSigner.Sign("0x1234", Domain, ChannelId, 1));
        Assert.Throws<ArgumentException>(() => EvmClaimSigner.Sign(Key, Domain with { VerifyingContract = "x" }, ChannelId, 1));
        Assert.Throws<ArgumentException>(() => EvmClaimSigner.Sign(Key, Domain, "0x12", 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => EvmClaimSigner.Sign(Key, Domain, ChannelId, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => EvmClaimSigner.Sign(Key, Domain, ChannelId, Max + 1));
    }
}
