using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;
using NBitcoin;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;

namespace M2M.Settlement.Xrp;

/// <summary>The two signing algorithms of the XRP Ledger.</summary>
public enum XrpKeyType
{
    Secp256k1 = 0,
    Ed25519 = 1,
}

/// <summary>
/// An XRPL key pair: secp256k1 (NBitcoin; ECDSA over SHA-512Half, RFC 6979 nonces, canonical low-S DER) or
/// ed25519 (BouncyCastle; signs the raw message; public key 0xED + 32 bytes). Derivable from a family seed
/// exactly as ripple-keypairs / rippled do (account index 0). Dispose to clear the private key.
/// </summary>
public sealed class XrpKeyPair : IDisposable
{
    private readonly Key? _secpKey;
    private readonly Ed25519PrivateKeyParameters? _edKey;
    private readonly byte[] _publicKey;

    private XrpKeyPair(Key secpKey)
    {
        KeyType = XrpKeyType.Secp256k1;
        _secpKey = secpKey;
        _publicKey = secpKey.PubKey.ToBytes(); // 33-byte compressed
        ClassicAddress = XrpAddress.FromPublicKey(_publicKey);
    }

    private XrpKeyPair(Ed25519PrivateKeyParameters edKey)
    {
        KeyType = XrpKeyType.Ed25519;
        _edKey = edKey;
        _publicKey = new byte[33];
        _publicKey[0] = XrpSignatures.Ed25519PublicKeyPrefix;
        edKey.GeneratePublicKey().Encode(_publicKey, 1);
        ClassicAddress = XrpAddress.FromPublicKey(_publicKey);
    }

    public XrpKeyType KeyType { get; }

    /// <summary>The 33-byte XRPL public key (a copy).</summary>
    public byte[] PublicKey => (byte[])_publicKey.Clone();

    /// <summary>The public key as uppercase hex (the form rippled and ripple-keypairs print).</summary>
    public string PublicKeyHex => Convert.ToHexString(_publicKey);

    /// <summary>The classic r... address of this key.</summary>
    public string ClassicAddress { get; }

    /// <summary>Derives the key pair of a family seed (s... for secp256k1, sEd... for ed25519).</summary>
    public static XrpKeyPair FromSeed(string familySeed)
    {
        if (!XrpSeed.TryDecode(familySeed, out var entropy, out var keyType))
            throw new FormatException("not an XRPL family seed");
        return FromSeedEntropy(entropy, keyType);
    }

    /// <summary>Derives the key pair of 16 bytes of seed entropy.</summary>
    public static XrpKeyPair FromSeedEntropy(ReadOnlySpan<byte> entropy, XrpKeyType keyType)
    {
        if (entropy.Length != XrpSeed.EntropyLength) throw new ArgumentException("seed entropy is 16 bytes", nameof(entropy));
        return keyType switch
        {
            XrpKeyType.Ed25519 => FromEd25519PrivateKey(XrpHashes.Sha512Half(entropy)),
            XrpKeyType.Secp256k1 => FromSecp256k1PrivateKey(DeriveSecp256k1AccountKey(entropy)),
            _ => throw new ArgumentOutOfRangeException(nameof(keyType)),
        };
    }

    /// <summary>A new random key pair and the seed it derives from.</summary>
    public static (XrpKeyPair Key, string Seed) Generate(XrpKeyType keyType)
    {
        var seed = XrpSeed.Generate(keyType);
        return (FromSeed(seed), seed);
    }

    /// <summary>A secp256k1 key from its 32-byte private scalar (0 &lt; k &lt; n).</summary>
    public static XrpKeyPair FromSecp256k1PrivateKey(ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != 32 || !XrpSignatures.IsValidSecp256k1Scalar(privateKey))
            throw new ArgumentException("not a valid secp256k1 private key", nameof(privateKey));
        return new XrpKeyPair(new Key(privateKey.ToArray(), -1, fCompressedIn: true));
    }

    /// <summary>An ed25519 key from its 32-byte private key (seed in RFC 8032 terms).</summary>
    public static XrpKeyPair FromEd25519PrivateKey(ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != 32) throw new ArgumentException("an ed25519 private key is 32 bytes", nameof(privateKey));
        return new XrpKeyPair(new Ed25519PrivateKeyParameters(privateKey.ToArray(), 0));
    }

    /// <summary>
    /// Signs a message as rippled does: secp256k1 → DER ECDSA over SHA512Half(message), low S, deterministic
    /// (RFC 6979, no low-R grinding, so byte-identical to ripple-keypairs); ed25519 → 64-byte signature of the message.
    /// </summary>
    public byte[] Sign(ReadOnlySpan<byte> message)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_secpKey is not null)
        {
            var digest = XrpHashes.Sha512Half(message);
            var signature = _secpKey.Sign(new uint256(digest), useLowR: false);
            if (!signature.IsLowS) signature = signature.MakeCanonical();
            return signature.ToDER();
        }
        var signer = new Ed25519Signer();
        signer.Init(true, _edKey);
        var bytes = message.ToArray();
        signer.BlockUpdate(bytes, 0, bytes.Length);
        return signer.GenerateSignature();
    }

    private bool _disposed;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _secpKey?.Dispose();
    }

    // root = SHA512Half(seed || seq) for seq = 0.. until 0 < root < n; rootPub = compressed(root·G);
    // account = (root + SHA512Half(rootPub || accountIndex=0 || seq)) mod n, the first valid seq again.
    private static byte[] DeriveSecp256k1AccountKey(ReadOnlySpan<byte> entropy)
    {
        var root = DeriveScalar(entropy, discriminator: null);
        byte[] rootPublic;
        using (var rootKey = new Key(root, -1, fCompressedIn: true)) rootPublic = rootKey.PubKey.ToBytes();
        var tweak = DeriveScalar(rootPublic, discriminator: 0);
        var sum = (ToInteger(root) + ToInteger(tweak)) % XrpSignatures.Secp256k1Order;
        CryptographicOperations.ZeroMemory(root);
        var result = new byte[32];
        sum.TryWriteBytes(result.AsSpan(32 - sum.GetByteCount(isUnsigned: true)), out _, isUnsigned: true, isBigEndian: true);
        return result;
    }

    private static byte[] DeriveScalar(ReadOnlySpan<byte> bytes, uint? discriminator)
    {
        var extra = discriminator is null ? 4 : 8;
        var buffer = new byte[bytes.Length + extra];
        bytes.CopyTo(buffer);
        if (discriminator is { } d) BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(bytes.Length), d);
        for (ulong seq = 0; seq <= uint.MaxValue; seq++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(buffer.Length - 4), (uint)seq);
            var candidate = XrpHashes.Sha512Half(buffer);
            if (XrpSignatures.IsValidSecp256k1Scalar(candidate)) return candidate;
        }
        throw new CryptographicException("no valid secp256k1 scalar found");
    }

    private static BigInteger ToInteger(ReadOnlySpan<byte> bigEndian) => new(bigEndian, isUnsigned: true, isBigEndian: true);
}
