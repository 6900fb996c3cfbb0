using M2M.Settlement.Xrp;

namespace M2M.Settlement.Tests;

[Trait("Tier", "unit")]
public sealed class XrpClaimValidationTests
{
    private const ulong Capacity = 10_000_000;

    [Theory]
    [InlineData(XrpTestVectors.Secp256k1Seed)]
    [InlineData(XrpTestVectors.Ed25519Seed)]
    public void Accepts_increasing_claims_up_to_capacity_and_rejects_the_rest(string seed)
    {
        using var key = XrpKeyPair.FromSeed(seed);
        var channel = new XrpChannelTerms(XrpTestVectors.ChannelId, key.PublicKeyHex, Capacity);

        var first = XrpClaimSigner.CreateClaim(key, XrpTestVectors.ChannelId, 1_000);
        Assert.Equal(XrpClaimValidationResult.Valid, XrpClaimValidator.Validate(first, channel, lastAcceptedDrops: null));
        var zero = XrpClaimSigner.CreateClaim(key, XrpTestVectors.ChannelId, 0);
        Assert.Equal(XrpClaimValidationResult.Valid, XrpClaimValidator.Validate(zero, channel, lastAcceptedDrops: null));
        Assert.Equal(XrpClaimValidationResult.NotIncreasing, XrpClaimValidator.Validate(zero, channel, lastAcceptedDrops: 0));

        var second = XrpClaimSigner.CreateClaim(key, XrpTestVectors.ChannelId, 2_000);
        Assert.Equal(XrpClaimValidationResult.Valid, XrpClaimValidator.Validate(second, channel, lastAcceptedDrops: 1_000));
        Assert.Equal(XrpClaimValidationResult.NotIncreasing, XrpClaimValidator.Validate(first, channel, lastAcceptedDrops: 1_000)); // replay
        Assert.Equal(XrpClaimValidationResult.NotIncreasing, XrpClaimValidator.Validate(first, channel, lastAcceptedDrops: 2_000)); // older

        var full = XrpClaimSigner.CreateClaim(key, XrpTestVectors.ChannelId, Capacity);
        Assert.Equal(XrpClaimValidationResult.Valid, XrpClaimValidator.Validate(full, channel, lastAcceptedDrops: 2_000));
        var over = XrpClaimSigner.CreateClaim(key, XrpTestVectors.ChannelId, Capacity + 1);
        Assert.Equal(XrpClaimValidationResult.ExceedsCapacity, XrpClaimValidator.Validate(over, channel, lastAcceptedDrops: 2_000));
        var max = XrpClaimSigner.CreateClaim(key, XrpTestVectors.ChannelId, ulong.MaxValue);
        Assert.Equal(XrpClaimValidationResult.ExceedsCapacity, XrpClaimValidator.Validate(max, channel, lastAcceptedDrops: null));

        // A signature for another amount, channel or key.
        Assert.Equal(XrpClaimValidationResult.InvalidSignature,
            XrpClaimValidator.Validate(second with { Drops = 3_000 }, channel, lastAcceptedDrops: 1_000));
        Assert.Equal(XrpClaimValidationResult.InvalidSignature,
            XrpClaimValidator.Validate(second with { Signature = first.Signature }, channel, lastAcceptedDrops: 1_000));
        var otherChannel = XrpClaimSigner.CreateClaim(key, XrpTestVectors.OtherChannelId, 2_000);
        Assert.Equal(XrpClaimValidationResult.WrongChannel, XrpClaimValidator.Validate(otherChannel, channel, lastAcceptedDrops: 1_000));
        Assert.Equal(XrpClaimValidationResult.InvalidSignature,
            XrpClaimValidator.Validate(otherChannel with { ChannelId = XrpTestVectors.ChannelId }, channel, lastAcceptedDrops: 1_000));
        using var stranger = XrpKeyPair.FromSeed(XrpTestVectors.OtherSecp256k1Seed);
        var foreign = XrpClaimSigner.CreateClaim(stranger, XrpTestVectors.ChannelId, 2_000);
        Assert.Equal(XrpClaimValidationResult.WrongPublicKey, XrpClaimValidator.Validate(foreign, channel, lastAcceptedDrops: 1_000));
        Assert.Equal(XrpClaimValidationResult.InvalidSignature,
            XrpClaimValidator.Validate(foreign with { PublicKey = key.PublicKeyHex }, channel, lastAcceptedDrops: 1_000));

        // Hex case does not matter for ids and keys.
        Assert.Equal(XrpClaimValidationResult.Valid, XrpClaimValidator.Validate(
            second with { ChannelId = second.ChannelId.ToLowerInvariant(), PublicKey = second.PublicKey.ToLowerInvariant(), Signature = second.Signature.ToLowerInvariant() },
            channel, lastAcceptedDrops: 1_000));
    }

    [Fact]
    public void High_S_claim_is_an_invalid_signature()
    {
        using var key = XrpKeyPair.FromSeed(XrpTestVectors.Secp256k1Seed);
        var channel = new XrpChannelTerms(XrpTestVectors.ChannelId, key.PublicKeyHex, Capacity);
        var claim = XrpClaimSigner.CreateClaim(key, XrpTestVectors.ChannelId, 4_000);
        var (r, s) = XrpClaimTests.ParseDer(Convert.FromHexString(claim.Signature));
        var highS = claim with { Signature = Convert.ToHexString(XrpClaimTests.EncodeDer(r, XrpSignatures.Secp256k1Order - s)) };
        Assert.Equal(XrpClaimValidationResult.Valid, XrpClaimValidator.Validate(claim, channel, null));
        Assert.Equal(XrpClaimValidationResult.InvalidSignature, XrpClaimValidator.Validate(highS, channel, null));
    }

    [Fact]
    public void Malformed_fields_are_reported_not_thrown()
    {
        using var key = XrpKeyPair.FromSeed(XrpTestVectors.Ed25519Seed);
        var channel = new XrpChannelTerms(XrpTestVectors.ChannelId, key.PublicKeyHex, Capacity);
        var claim = XrpClaimSigner.CreateClaim(key, XrpTestVectors.ChannelId, 4_000);

        Assert.Equal(XrpClaimValidationResult.MalformedChannelId, XrpClaimValidator.Validate(claim with { ChannelId = "abc" }, channel, null));
        Assert.Equal(XrpClaimValidationResult.MalformedPublicKey, XrpClaimValidator.Validate(claim with { PublicKey = "ED00" }, channel, null));
        Assert.Equal(XrpClaimValidationResult.MalformedPublicKey, XrpClaimValidator.Validate(claim with { PublicKey = "05" + claim.PublicKey[2..] }, channel, null));
        Assert.Equal(XrpClaimValidationResult.MalformedSignature, XrpClaimValidator.Validate(claim with { Signature = "xyz" }, channel, null));
        Assert.Equal(XrpClaimValidationResult.MalformedSignature, XrpClaimValidator.Validate(claim with { Signature = "" }, channel, null));
        Assert.Equal(XrpClaimValidationResult.InvalidSignature, XrpClaimValidator.Validate(claim with { Signature = "00" }, channel, null));
        Assert.Equal(XrpClaimValidationResult.WrongChannel, XrpClaimValidator.Validate(claim, channel with { ChannelId = "bad" }, null));
    }

    [Fact]
    public void Redeem_request_carries_the_claim()
    {
        using var key = XrpKeyPair.FromSeed(XrpTestVectors.Secp256k1Seed);
        var claim = XrpClaimSigner.CreateClaim(key, XrpTestVectors.ChannelId, 7);
        var request = XrpChannelClaimRequest.Redeem(claim, XrpChannelClaimFlags.Close);
        Assert.Equal((XrpTestVectors.ChannelId, 7UL, 7UL, claim.Signature, key.PublicKeyHex, XrpChannelClaimFlags.Close),
            (request.ChannelId, request.BalanceDrops!.Value, request.AmountDrops!.Value, request.Signature, request.PublicKey, request.Flags));
        Assert.Equal(0x00020000u, (uint)XrpChannelClaimFlags.Close);
    }
}
