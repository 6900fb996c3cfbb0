using System.Numerics;
using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Digests;

namespace M2M.Settlement.Xrp;

/// <summary>Base58 and base58check with the XRP Ledger alphabet (as ripple-address-codec).</summary>
public static class XrpBase58
{
    public const string Alphabet = "rpshnaf39wBUDNEGHJKLM4PQRST7VWXYZ2bcdeCg65jkm8oFqi1tuvAxyz";

    private static readonly int[] Index = BuildIndex();

    private static int[] BuildIndex()
    {
        var index = new int[128];
        Array.Fill(index, -1);
        for (var i = 0; i < Alphabet.Length; i++) index[Alphabet[i]] = i;
        return index;
    }

    public static string Encode(ReadOnlySpan<byte> data)
    {
        var zeros = 0;
        while (zeros < data.Length && data[zeros] == 0) zeros++;
        var value = new BigInteger(data, isUnsigned: true, isBigEndian: true);
        var chars = new List<char>(data.Length * 138 / 100 + 1);
        while (value > 0)
        {
            value = BigInteger.DivRem(value, 58, out var remainder);
            chars.Add(Alphabet[(int)remainder]);
        }
        for (var i = 0; i < zeros; i++) chars.Add(Alphabet[0]);
        chars.Reverse();
        return new string(chars.ToArray());
    }

    public static bool TryDecode(string? text, out byte[] data)
    {
        data = [];
        if (string.IsNullOrEmpty(text)) return false;
        var zeros = 0;
        while (zeros < text.Length && text[zeros] == Alphabet[0]) zeros++;
        BigInteger value = 0;
        foreach (var c in text)
        {
            var digit = c < 128 ? Index[c] : -1;
            if (digit < 0) return false;
            value = value * 58 + digit;
        }
        var body = value.IsZero ? [] : value.ToByteArray(isUnsigned: true, isBigEndian: true);
        data = new byte[zeros + body.Length];
        body.CopyTo(data, zeros);
        return true;
    }

    /// <summary>payload + first 4 bytes of SHA256(SHA256(payload)), base58.</summary>
    public static string EncodeCheck(ReadOnlySpan<byte> payload)
    {
        var buffer = new byte[payload.Length + 4];
        payload.CopyTo(buffer);
        Checksum(payload).CopyTo(buffer.AsSpan(payload.Length));
        return Encode(buffer);
    }

    public static bool TryDecodeCheck(string? text, out byte[] payload)
    {
        payload = [];
        if (!TryDecode(text, out var data) || data.Length < 5) return false;
        var body = data.AsSpan(0, data.Length - 4);
        if (!Checksum(body).AsSpan().SequenceEqual(data.AsSpan(data.Length - 4))) return false;
        payload = body.ToArray();
        return true;
    }

    private static byte[] Checksum(ReadOnlySpan<byte> payload) => SHA256.HashData(SHA256.HashData(payload))[..4];
}

/// <summary>Hashes used by the XRP Ledger.</summary>
public static class XrpHashes
{
    /// <summary>The first 32 bytes of SHA-512.</summary>
    public static byte[] Sha512Half(ReadOnlySpan<byte> data) => SHA512.HashData(data)[..32];

    /// <summary>RIPEMD160(SHA256(publicKey)): the 20-byte AccountID of a public key.</summary>
    public static byte[] AccountId(ReadOnlySpan<byte> publicKey)
    {
        var sha = SHA256.HashData(publicKey);
        var ripemd = new RipeMD160Digest();
        ripemd.BlockUpdate(sha, 0, sha.Length);
        var result = new byte[ripemd.GetDigestSize()];
        ripemd.DoFinal(result, 0);
        return result;
    }
}

/// <summary>Classic addresses (r...): base58check of 0x00 + AccountID.</summary>
public static class XrpAddress
{
    private const byte AccountIdVersion = 0x00;

    public static string FromAccountId(ReadOnlySpan<byte> accountId)
    {
        if (accountId.Length != 20) throw new ArgumentException("an AccountID is 20 bytes", nameof(accountId));
        Span<byte> payload = stackalloc byte[21];
        payload[0] = AccountIdVersion;
        accountId.CopyTo(payload[1..]);
        return XrpBase58.EncodeCheck(payload);
    }

    /// <summary>The classic address of a 33-byte XRPL public key (secp256k1 compressed, or 0xED + ed25519).</summary>
    public static string FromPublicKey(ReadOnlySpan<byte> publicKey) => FromAccountId(XrpHashes.AccountId(publicKey));

    public static bool TryDecode(string? address, out byte[] accountId)
    {
        accountId = [];
        if (!XrpBase58.TryDecodeCheck(address, out var payload) || payload.Length != 21 || payload[0] != AccountIdVersion) return false;
        accountId = payload[1..];
        return true;
    }

    public static bool IsValid(string? address) => TryDecode(address, out _);
}

/// <summary>Family seeds (s..., sEd...): 16 bytes of entropy with a key-type prefix, base58check.</summary>
public static class XrpSeed
{
    public const int EntropyLength = 16;
    private static readonly byte[] Secp256k1Prefix = [0x21];
    private static readonly byte[] Ed25519Prefix = [0x01, 0xE1, 0x4B];

    public static string Encode(ReadOnlySpan<byte> entropy, XrpKeyType keyType)
    {
        if (entropy.Length != EntropyLength) throw new ArgumentException($"seed entropy is {EntropyLength} bytes", nameof(entropy));
        var prefix = keyType switch
        {
            XrpKeyType.Secp256k1 => Secp256k1Prefix,
            XrpKeyType.Ed25519 => Ed25519Prefix,
            _ => throw new ArgumentOutOfRangeException(nameof(keyType)),
        };
        var payload = new byte[prefix.Length + EntropyLength];
        prefix.CopyTo(payload, 0);
        entropy.CopyTo(payload.AsSpan(prefix.Length));
        return XrpBase58.EncodeCheck(payload);
    }

    /// <summary>A new random seed.</summary>
    public static string Generate(XrpKeyType keyType) => Encode(RandomNumberGenerator.GetBytes(EntropyLength), keyType);

    /// <summary>Decodes a family seed to its entropy and key type (as ripple-address-codec's decodeSeed).</summary>
    public static bool TryDecode(string? seed, out byte[] entropy, out XrpKeyType keyType)
    {
        entropy = [];
        keyType = XrpKeyType.Secp256k1;
        if (!XrpBase58.TryDecodeCheck(seed, out var payload)) return false;
        if (payload.Length == Ed25519Prefix.Length + EntropyLength && payload.AsSpan().StartsWith(Ed25519Prefix))
        {
            entropy = payload[Ed25519Prefix.Length..];
            keyType = XrpKeyType.Ed25519;
            return true;
        }
        if (payload.Length == Secp256k1Prefix.Length + EntropyLength && payload[0] == Secp256k1Prefix[0])
        {
            entropy = payload[Secp256k1Prefix.Length..];
            keyType = XrpKeyType.Secp256k1;
            return true;
        }
        return false;
    }
}

internal static class XrpHex
{
    public static bool TryParse(string? hex, int expectedLength, out byte[] bytes)
    {
        bytes = [];
        if (hex is null || hex.Length != expectedLength * 2) return false;
        try
        {
            bytes = Convert.FromHexString(hex);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    public static bool TryParse(string? hex, out byte[] bytes)
    {
        bytes = [];
        if (hex is null || hex.Length % 2 != 0) return false;
        try
        {
            bytes = Convert.FromHexString(hex);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
