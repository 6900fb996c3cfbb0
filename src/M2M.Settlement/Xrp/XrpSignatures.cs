using System.Numerics;
using NBitcoin;
using NBitcoin.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;

namespace M2M.Settlement.Xrp;

/// <summary>How rippled classifies a secp256k1 DER signature (ecdsaCanonicality in PublicKey.cpp).</summary>
public enum XrpEcdsaCanonicality
{
    /// <summary>Not strict DER, or r/s out of range.</summary>
    Invalid = 0,
    /// <summary>Strict DER, 0 &lt; r, s &lt; n, but s &gt; n/2 (malleable; rippled rejects it where full canonicality is required, as for claims).</summary>
    Canonical,
    /// <summary>Strict DER and low S.</summary>
    FullyCanonical,
}

/// <summary>Signature verification with rippled's rules. Never throws on malformed input.</summary>
public static class XrpSignatures
{
    public const byte Ed25519PublicKeyPrefix = 0xED;

    /// <summary>secp256k1 group order n.</summary>
    public static readonly BigInteger Secp256k1Order =
        BigInteger.Parse("0FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", System.Globalization.NumberStyles.HexNumber);

    // ed25519 group order L (rippled's ed25519Canonical requires S < L; S is little-endian in the signature).
    private static readonly BigInteger Ed25519Order = BigInteger.Pow(2, 252) + BigInteger.Parse("27742317777372353535851937790883648493");

    /// <summary>The key type of a 33-byte XRPL public key, or null if it is neither 0xED + 32 bytes nor 02/03 + 32 bytes.</summary>
    public static XrpKeyType? KeyTypeOf(ReadOnlySpan<byte> publicKey)
    {
        if (publicKey.Length != 33) return null;
        return publicKey[0] switch
        {
            Ed25519PublicKeyPrefix => XrpKeyType.Ed25519,
            0x02 or 0x03 => XrpKeyType.Secp256k1,
            _ => null,
        };
    }

    /// <summary>
    /// Verifies a signature of a message as rippled does with full canonicality required: secp256k1 → strict DER,
    /// low S, ECDSA over SHA512Half(message) with a compressed key; ed25519 → 64 bytes, S &lt; L, over the raw message.
    /// </summary>
    public static bool Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        try
        {
            return KeyTypeOf(publicKey) switch
            {
                XrpKeyType.Secp256k1 => VerifySecp256k1(publicKey, message, signature),
                XrpKeyType.Ed25519 => VerifyEd25519(publicKey[1..], message, signature),
                _ => false,
            };
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidOperationException or IndexOutOfRangeException)
        {
            return false;
        }
    }

    /// <summary>rippled's ecdsaCanonicality: strict DER with minimal positive integers, r, s &lt; n; fully canonical when s ≤ n − s.</summary>
    public static XrpEcdsaCanonicality EcdsaCanonicality(ReadOnlySpan<byte> signature) =>
        TryParseStrictDer(signature, out _, out var s) ? (s > Secp256k1Order - s ? XrpEcdsaCanonicality.Canonical : XrpEcdsaCanonicality.FullyCanonical)
            : XrpEcdsaCanonicality.Invalid;

    internal static bool IsValidSecp256k1Scalar(ReadOnlySpan<byte> bigEndian32)
    {
        var value = new BigInteger(bigEndian32, isUnsigned: true, isBigEndian: true);
        return value > 0 && value < Secp256k1Order;
    }

    private static bool VerifySecp256k1(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        if (!TryParseStrictDer(signature, out var r, out var s)) return false;
        if (r.IsZero || s.IsZero || s > Secp256k1Order - s) return false; // zero, or high S: not fully canonical
        if (!PubKey.TryCreatePubKey(publicKey, out var pubKey) || pubKey is null || !pubKey.IsCompressed) return false;
        Span<byte> compact = stackalloc byte[64];
        r.TryWriteBytes(compact.Slice(32 - r.GetByteCount(isUnsigned: true), r.GetByteCount(isUnsigned: true)), out _, isUnsigned: true, isBigEndian: true);
        s.TryWriteBytes(compact.Slice(64 - s.GetByteCount(isUnsigned: true), s.GetByteCount(isUnsigned: true)), out _, isUnsigned: true, isBigEndian: true);
        if (!ECDSASignature.TryParseFromCompact(compact, out var sig) || sig is null) return false;
        return pubKey.Verify(new uint256(XrpHashes.Sha512Half(message)), sig);
    }

    private static bool VerifyEd25519(ReadOnlySpan<byte> rawPublicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        if (signature.Length != 64) return false;
        // rippled's ed25519Canonical: S (the last 32 bytes, little-endian) < L.
        if (new BigInteger(signature[32..], isUnsigned: true, isBigEndian: false) >= Ed25519Order) return false;
        var key = new Ed25519PublicKeyParameters(rawPublicKey.ToArray(), 0);
        var verifier = new Ed25519Signer();
        verifier.Init(false, key);
        var bytes = message.ToArray();
        verifier.BlockUpdate(bytes, 0, bytes.Length);
        return verifier.VerifySignature(signature.ToArray());
    }

    // <30> <len> <02> <lenR> <R> <02> <lenS> <S>, 8..72 bytes, each integer 1..33 bytes, not negative, not padded, < n.
    private static bool TryParseStrictDer(ReadOnlySpan<byte> sig, out BigInteger r, out BigInteger s)
    {
        r = s = BigInteger.Zero;
        if (sig.Length < 8 || sig.Length > 72) return false;
        if (sig[0] != 0x30 || sig[1] != sig.Length - 2) return false;
        var rest = sig[2..];
        if (!TryParsePart(ref rest, out r) || !TryParsePart(ref rest, out s) || !rest.IsEmpty) return false;
        return r < Secp256k1Order && s < Secp256k1Order;
    }

    private static bool TryParsePart(ref ReadOnlySpan<byte> buffer, out BigInteger value)
    {
        value = BigInteger.Zero;
        if (buffer.Length < 3 || buffer[0] != 0x02) return false;
        int length = buffer[1];
        buffer = buffer[2..];
        if (length > buffer.Length || length < 1 || length > 33) return false;
        if ((buffer[0] & 0x80) != 0) return false; // negative
        if (buffer[0] == 0 && (length == 1 || (buffer[1] & 0x80) == 0)) return false; // zero, or padded
        value = new BigInteger(buffer[..length], isUnsigned: true, isBigEndian: true);
        buffer = buffer[length..];
        return true;
    }
}
