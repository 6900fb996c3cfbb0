using System.Numerics;
using M2M.Settlement.Xrp;

namespace M2M.Settlement.Tests;

/// <summary>Claim encoding, signing and verification cross-checked against ripple-binary-codec and ripple-keypairs.</summary>
[Collection(XrpReferenceCollection.Name)]
[Trait("Tier", "interop")]
public sealed class XrpClaimTests(XrpReferenceFixture reference)
{
    public static IEnumerable<object[]> SeedsAndAmounts() =>
        from seed in new[] { XrpTestVectors.Secp256k1Seed, XrpTestVectors.Ed25519Seed }
        from amount in XrpTestVectors.Amounts
        select new object[] { seed, amount };

    [Fact]
    public async Task Claim_message_equals_encodeForSigningClaim()
    {
        foreach (var channel in new[] { XrpTestVectors.ChannelId, XrpTestVectors.OtherChannelId })
        {
            foreach (var drops in XrpTestVectors.Amounts)
            {
                var ours = Convert.ToHexString(XrpClaimMessage.Encode(channel, drops));
                var theirs = await reference.EncodeClaimAsync(channel, drops.ToString(System.Globalization.CultureInfo.InvariantCulture));
                Assert.Equal(theirs.ToUpperInvariant(), ours);
            }
        }
        Assert.Equal(
            "434C4D00" + XrpTestVectors.ChannelId + "FFFFFFFFFFFFFFFF",
            Convert.ToHexString(XrpClaimMessage.Encode(XrpTestVectors.ChannelId.ToLowerInvariant(), ulong.MaxValue)));
        Assert.Equal(
            "434C4D00" + XrpTestVectors.ChannelId + "00000000000F4240",
            Convert.ToHexString(XrpClaimMessage.Encode(XrpTestVectors.ChannelId, 1_000_000)));
    }

    [Theory]
    [MemberData(nameof(SeedsAndAmounts))]
    public async Task Our_signatures_verify_with_ripple_keypairs_and_theirs_with_ours(string seed, ulong drops)
    {
        using var key = XrpKeyPair.FromSeed(seed);
        var ours = XrpClaimSigner.Sign(key, XrpTestVectors.ChannelId, drops);
        var oursHex = Convert.ToHexString(ours);

        var theirs = await reference.SignClaimAsync(seed, XrpTestVectors.ChannelId, drops);
        Assert.Equal(theirs.PublicKey, key.PublicKeyHex);
        Assert.Equal(theirs.Message.ToUpperInvariant(), Convert.ToHexString(XrpClaimMessage.Encode(XrpTestVectors.ChannelId, drops)));
        // Both schemes are deterministic (RFC 6979 / RFC 8032), so the signatures are byte-identical.
        Assert.Equal(theirs.Signature, oursHex);

        Assert.True(await reference.VerifyClaimAsync(key.PublicKeyHex, XrpTestVectors.ChannelId, drops, oursHex));
        Assert.True(XrpClaimVerifier.Verify(theirs.PublicKey, XrpTestVectors.ChannelId, drops, Convert.FromHexString(theirs.Signature)));
        if (key.KeyType == XrpKeyType.Secp256k1) Assert.Equal(XrpEcdsaCanonicality.FullyCanonical, XrpSignatures.EcdsaCanonicality(ours));
        else Assert.Equal(64, ours.Length);
    }

    [Theory]
    [MemberData(nameof(XrpTestVectors.Seeds), MemberType = typeof(XrpTestVectors))]
    public async Task Tampered_amount_channel_or_signature_fails_in_both_implementations(string seed)
    {
        using var key = XrpKeyPair.FromSeed(seed);
        const ulong drops = 123_456_789;
        var signature = XrpClaimSigner.Sign(key, XrpTestVectors.ChannelId, drops);
        Assert.True(XrpClaimVerifier.Verify(key.PublicKeyHex, XrpTestVectors.ChannelId, drops, signature));

        var flipped = (byte[])signature.Clone();
        flipped[^5] ^= 0x01; // inside s (secp256k1) or S (ed25519), keeps the DER structure

        var cases = new (string Channel, ulong Drops, byte[] Signature)[]
        {
            (XrpTestVectors.ChannelId, drops + 1, signature),
            (XrpTestVectors.ChannelId, drops - 1, signature),
            (XrpTestVectors.OtherChannelId, drops, signature),
            (XrpTestVectors.ChannelId, drops, flipped),
        };
        foreach (var (channel, amount, sig) in cases)
        {
            Assert.False(XrpClaimVerifier.Verify(key.PublicKeyHex, channel, amount, sig));
            Assert.False(await reference.VerifyClaimAsync(key.PublicKeyHex, channel, amount, Convert.ToHexString(sig)));
        }

        // The other key type's key does not verify it.
        using var other = XrpKeyPair.FromSeed(seed == XrpTestVectors.Ed25519Seed ? XrpTestVectors.Secp256k1Seed : XrpTestVectors.Ed25519Seed);
        Assert.False(XrpClaimVerifier.Verify(other.PublicKeyHex, XrpTestVectors.ChannelId, drops, signature));
    }

    [Fact]
    public async Task High_S_secp256k1_signature_is_rejected()
    {
        using var key = XrpKeyPair.FromSeed(XrpTestVectors.Secp256k1Seed);
        const ulong drops = 5_000_000;
        var lowS = XrpClaimSigner.Sign(key, XrpTestVectors.ChannelId, drops);
        var (r, s) = ParseDer(lowS);
        var highS = EncodeDer(r, XrpSignatures.Secp256k1Order - s);

        Assert.Equal(XrpEcdsaCanonicality.FullyCanonical, XrpSignatures.EcdsaCanonicality(lowS));
        Assert.Equal(XrpEcdsaCanonicality.Canonical, XrpSignatures.EcdsaCanonicality(highS));
        // It is the malleated twin of a valid signature (NBitcoin normalizes it back) ...
        Assert.Equal(lowS, new NBitcoin.Crypto.ECDSASignature(highS).MakeCanonical().ToDER());
        // ... and rippled requires full canonicality for claims: rejected (as does ripple-keypairs' low-S verify).
        Assert.False(XrpClaimVerifier.Verify(key.PublicKeyHex, XrpTestVectors.ChannelId, drops, highS));
        Assert.False(await reference.VerifyClaimAsync(key.PublicKeyHex, XrpTestVectors.ChannelId, drops, Convert.ToHexString(highS)));
        Assert.True(await reference.VerifyClaimAsync(key.PublicKeyHex, XrpTestVectors.ChannelId, drops, Convert.ToHexString(lowS)));
    }

    [Fact]
    public async Task Non_canonical_ed25519_S_is_rejected()
    {
        using var key = XrpKeyPair.FromSeed(XrpTestVectors.Ed25519Seed);
        const ulong drops = 5_000_000;
        var signature = XrpClaimSigner.Sign(key, XrpTestVectors.ChannelId, drops);
        var order = BigInteger.Pow(2, 252) + BigInteger.Parse("27742317777372353535851937790883648493", System.Globalization.CultureInfo.InvariantCulture);
        var s = new BigInteger(signature.AsSpan(32), isUnsigned: true, isBigEndian: false);
        var malleated = (byte[])signature.Clone();
        (s + order).TryWriteBytes(malleated.AsSpan(32), out var written, isUnsigned: true, isBigEndian: false);
        Assert.True(written <= 32);

        Assert.False(XrpClaimVerifier.Verify(key.PublicKeyHex, XrpTestVectors.ChannelId, drops, malleated));
        Assert.False(await reference.VerifyClaimAsync(key.PublicKeyHex, XrpTestVectors.ChannelId, drops, Convert.ToHexString(malleated)));
    }

    [Fact]
    public void Malformed_keys_channels_and_signatures_return_false_without_throwing()
    {
        using var secp = XrpKeyPair.FromSeed(XrpTestVectors.Secp256k1Seed);
        using var ed = XrpKeyPair.FromSeed(XrpTestVectors.Ed25519Seed);
        var secpSig = XrpClaimSigner.Sign(secp, XrpTestVectors.ChannelId, 10);
        var edSig = XrpClaimSigner.Sign(ed, XrpTestVectors.ChannelId, 10);
        Assert.True(XrpClaimVerifier.Verify(secp.PublicKeyHex, XrpTestVectors.ChannelId, 10, secpSig));
        Assert.True(XrpClaimVerifier.Verify(ed.PublicKeyHex, XrpTestVectors.ChannelId, 10, edSig));

        string?[] badKeys =
        [
            null, "", "02", "zz" + secp.PublicKeyHex[2..], secp.PublicKeyHex[..64], secp.PublicKeyHex + "00",
            "04" + secp.PublicKeyHex[2..], // wrong prefix
            "02" + new string('F', 64), // x not on the curve
            "ED" + new string('F', 64), // not a valid ed25519 point encoding
            "EE" + ed.PublicKeyHex[2..],
        ];
        foreach (var badKey in badKeys)
        {
            Assert.False(XrpClaimVerifier.Verify(badKey, XrpTestVectors.ChannelId, 10, secpSig));
            Assert.False(XrpClaimVerifier.Verify(badKey, XrpTestVectors.ChannelId, 10, edSig));
        }

        foreach (var badChannel in new string?[] { null, "", "00", XrpTestVectors.ChannelId[..62], XrpTestVectors.ChannelId + "00", "G" + XrpTestVectors.ChannelId[1..] })
            Assert.False(XrpClaimVerifier.Verify(secp.PublicKeyHex, badChannel, 10, secpSig));

        byte[]?[] badSecpSigs =
        [
            null, [], [0x30], secpSig[..^1], [.. secpSig, 0x00], edSig, new byte[72],
            WithByte(secpSig, 1, (byte)(secpSig[1] + 1)), // wrong total length
            WithByte(secpSig, 0, 0x31), // not a SEQUENCE
        ];
        foreach (var badSig in badSecpSigs) Assert.False(XrpClaimVerifier.Verify(secp.PublicKeyHex, XrpTestVectors.ChannelId, 10, badSig));

        byte[]?[] badEdSigs = [null, [], edSig[..63], [.. edSig, 0x00], secpSig, new byte[64], Enumerable.Repeat((byte)0xFF, 64).ToArray()];
        foreach (var badSig in badEdSigs) Assert.False(XrpClaimVerifier.Verify(ed.PublicKeyHex, XrpTestVectors.ChannelId, 10, badSig));

        // A padded r (an extra 0x00 before a byte < 0x80) or a negative r is not strict DER.
        var (r, s) = ParseDer(secpSig);
        var padded = EncodeDer(r, s, padR: true);
        Assert.Equal(XrpEcdsaCanonicality.Invalid, XrpSignatures.EcdsaCanonicality(padded));
        Assert.False(XrpClaimVerifier.Verify(secp.PublicKeyHex, XrpTestVectors.ChannelId, 10, padded));
        Assert.Equal(XrpEcdsaCanonicality.Invalid, XrpSignatures.EcdsaCanonicality(EncodeDer(XrpSignatures.Secp256k1Order, s)));

        Assert.False(XrpClaimVerifier.Verify(new XrpClaim(XrpTestVectors.ChannelId, 10, "not hex", secp.PublicKeyHex)));
        Assert.True(XrpClaimVerifier.Verify(new XrpClaim(XrpTestVectors.ChannelId, 10, Convert.ToHexString(secpSig), secp.PublicKeyHex)));
    }

    private static byte[] WithByte(byte[] source, int index, byte value)
    {
        var copy = (byte[])source.Clone();
        copy[index] = value;
        return copy;
    }

    internal static (BigInteger R, BigInteger S) ParseDer(byte[] der)
    {
        var rLength = der[3];
        var r = new BigInteger(der.AsSpan(4, rLength), isUnsigned: true, isBigEndian: true);
        var sLength = der[5 + rLength];
        var s = new BigInteger(der.AsSpan(6 + rLength, sLength), isUnsigned: true, isBigEndian: true);
        return (r, s);
    }

    internal static byte[] EncodeDer(BigInteger r, BigInteger s, bool padR = false)
    {
        static byte[] Integer(BigInteger value, bool pad)
        {
            var bytes = value.ToByteArray(isUnsigned: true, isBigEndian: true);
            if ((bytes[0] & 0x80) != 0) bytes = [0x00, .. bytes];
            if (pad) bytes = [0x00, .. bytes]; // a superfluous leading zero
            return [0x02, (byte)bytes.Length, .. bytes];
        }
        var body = Integer(r, padR).Concat(Integer(s, false)).ToArray();
        return [0x30, (byte)body.Length, .. body];
    }
}
