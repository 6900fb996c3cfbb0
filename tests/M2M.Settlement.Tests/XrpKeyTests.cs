using M2M.Settlement.Xrp;

namespace M2M.Settlement.Tests;

[Collection(XrpReferenceCollection.Name)]
[Trait("Tier", "interop")]
public sealed class XrpKeyTests(XrpReferenceFixture reference)
{
    [Theory]
    [InlineData(XrpTestVectors.Secp256k1Seed, XrpKeyType.Secp256k1, XrpTestVectors.Secp256k1PublicKey, XrpTestVectors.Secp256k1Address)]
    [InlineData(XrpTestVectors.Ed25519Seed, XrpKeyType.Ed25519, XrpTestVectors.Ed25519PublicKey, XrpTestVectors.Ed25519Address)]
    public async Task Known_seed_derives_the_documented_key_and_address_same_as_ripple_keypairs(string seed, XrpKeyType type, string publicKey, string address)
    {
        using var key = XrpKeyPair.FromSeed(seed);
        Assert.Equal(type, key.KeyType);
        Assert.Equal(publicKey, key.PublicKeyHex);
        Assert.Equal(address, key.ClassicAddress);

        var expected = await reference.DeriveAsync(seed);
        Assert.Equal(expected.PublicKey, key.PublicKeyHex);
        Assert.Equal(expected.Address, key.ClassicAddress);
        Assert.Equal(type == XrpKeyType.Ed25519 ? "ed25519" : "secp256k1", expected.Algorithm);
    }

    [Fact]
    public async Task Other_fixture_seed_matches_ripple_keypairs()
    {
        using var key = XrpKeyPair.FromSeed(XrpTestVectors.OtherSecp256k1Seed);
        var expected = await reference.DeriveAsync(XrpTestVectors.OtherSecp256k1Seed);
        Assert.Equal(expected.PublicKey, key.PublicKeyHex);
        Assert.Equal(expected.Address, key.ClassicAddress);
    }

    /// <summary>Seeds we encode from fixed entropy (both types) derive the same key and address in ripple-keypairs.</summary>
    [Theory]
    [InlineData(XrpKeyType.Secp256k1)]
    [InlineData(XrpKeyType.Ed25519)]
    public async Task Seeds_from_fixed_entropy_derive_like_ripple_keypairs(XrpKeyType type)
    {
        var random = new Random(20240601 + (int)type);
        for (var i = 0; i < 4; i++)
        {
            var entropy = new byte[16];
            random.NextBytes(entropy);
            if (i == 0) Array.Fill(entropy, (byte)0);
            var seed = XrpSeed.Encode(entropy, type);
            Assert.StartsWith(type == XrpKeyType.Ed25519 ? "sEd" : "s", seed);

            using var key = XrpKeyPair.FromSeed(seed);
            var expected = await reference.DeriveAsync(seed);
            Assert.Equal(expected.PublicKey, key.PublicKeyHex);
            Assert.Equal(expected.Address, key.ClassicAddress);
        }
    }

    [Fact]
    public void Seed_and_address_codecs_round_trip_and_reject_bad_checksums()
    {
        Assert.True(XrpSeed.TryDecode(XrpTestVectors.Ed25519Seed, out var entropy, out var type));
        Assert.Equal(XrpKeyType.Ed25519, type);
        Assert.Equal(XrpTestVectors.Ed25519Seed, XrpSeed.Encode(entropy, type));
        Assert.True(XrpSeed.TryDecode(XrpTestVectors.Secp256k1Seed, out entropy, out type));
        Assert.Equal(XrpKeyType.Secp256k1, type);
        Assert.Equal(XrpTestVectors.Secp256k1Seed, XrpSeed.Encode(entropy, type));

        // One character changed: the checksum no longer matches.
        Assert.False(XrpSeed.TryDecode("snoPBrXtMeMyMHUVTgbuqAfg1SUTc", out _, out _));
        Assert.False(XrpSeed.TryDecode("not a seed 0OIl", out _, out _));
        Assert.False(XrpSeed.TryDecode(XrpTestVectors.Secp256k1Address, out _, out _)); // an address is not a seed
        Assert.Throws<FormatException>(() => XrpKeyPair.FromSeed("snoPBrXtMeMyMHUVTgbuqAfg1SUTc"));

        Assert.True(XrpAddress.TryDecode(XrpTestVectors.Secp256k1Address, out var accountId));
        Assert.Equal(20, accountId.Length);
        Assert.Equal(XrpTestVectors.Secp256k1Address, XrpAddress.FromAccountId(accountId));
        Assert.False(XrpAddress.IsValid("rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTi"));
        // The all-zero account (ACCOUNT_ZERO) is rrrrrrrrrrrrrrrrrrrrrhoLvTp.
        Assert.Equal("rrrrrrrrrrrrrrrrrrrrrhoLvTp", XrpAddress.FromAccountId(new byte[20]));
    }

    [Theory]
    [InlineData(XrpKeyType.Secp256k1)]
    [InlineData(XrpKeyType.Ed25519)]
    public void Generated_keys_sign_and_verify(XrpKeyType type)
    {
        var (key, seed) = XrpKeyPair.Generate(type);
        using (key)
        {
            using var again = XrpKeyPair.FromSeed(seed);
            Assert.Equal(key.PublicKeyHex, again.PublicKeyHex);
            var message = "hello"u8.ToArray();
            Assert.True(XrpSignatures.Verify(key.PublicKey, message, key.Sign(message)));
            Assert.False(XrpSignatures.Verify(key.PublicKey, "hellp"u8, key.Sign(message)));
        }
        Assert.Throws<ObjectDisposedException>(() => key.Sign([1]));
    }
}
