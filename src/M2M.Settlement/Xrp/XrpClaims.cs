using System.Buffers.Binary;

namespace M2M.Settlement.Xrp;

/// <summary>
/// The bytes signed for a payment-channel claim: HashPrefix 'CLM\0' (0x434C4D00) + 32-byte channel id +
/// amount in drops as UInt64 big-endian (ripple-binary-codec's encodeForSigningClaim; rippled's serializePayChanAuthorization).
/// </summary>
public static class XrpClaimMessage
{
    public const uint HashPrefix = 0x434C4D00;
    public const int Length = 4 + 32 + 8;

    public static byte[] Encode(ReadOnlySpan<byte> channelId, ulong drops)
    {
        if (channelId.Length != 32) throw new ArgumentException("a channel id is 32 bytes", nameof(channelId));
        var message = new byte[Length];
        BinaryPrimitives.WriteUInt32BigEndian(message, HashPrefix);
        channelId.CopyTo(message.AsSpan(4));
        BinaryPrimitives.WriteUInt64BigEndian(message.AsSpan(36), drops);
        return message;
    }

    /// <summary>Encodes a claim for a channel id given as 64 hex characters.</summary>
    /// <exception cref="FormatException">The channel id is not 32 bytes of hex.</exception>
    public static byte[] Encode(string channelIdHex, ulong drops) => Encode(ParseChannelId(channelIdHex), drops);

    public static bool TryParseChannelId(string? channelIdHex, out byte[] channelId) => XrpHex.TryParse(channelIdHex, 32, out channelId);

    internal static byte[] ParseChannelId(string channelIdHex) =>
        TryParseChannelId(channelIdHex, out var id) ? id : throw new FormatException("a channel id is 64 hex characters");
}

/// <summary>Signs payment-channel claims (what a channel's source gives its destination off ledger).</summary>
public static class XrpClaimSigner
{
    /// <summary>The signature authorizing <paramref name="drops"/> (cumulative) from the channel: DER for secp256k1, 64 bytes for ed25519.</summary>
    /// <exception cref="FormatException">The channel id is not 32 bytes of hex.</exception>
    public static byte[] Sign(XrpKeyPair key, string channelIdHex, ulong drops)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key.Sign(XrpClaimMessage.Encode(channelIdHex, drops));
    }

    /// <summary>A signed claim record (hex fields uppercase).</summary>
    public static XrpClaim CreateClaim(XrpKeyPair key, string channelIdHex, ulong drops)
    {
        var signature = Sign(key, channelIdHex, drops);
        return new XrpClaim(channelIdHex.ToUpperInvariant(), drops, Convert.ToHexString(signature), key.PublicKeyHex);
    }
}

/// <summary>Verifies payment-channel claims as rippled's PaymentChannelClaim does (full canonicality required). Never throws.</summary>
public static class XrpClaimVerifier
{
    /// <returns>True only if the key is a 33-byte XRPL public key, the channel id 32 bytes of hex and the signature valid for them.</returns>
    public static bool Verify(string? publicKeyHex, string? channelIdHex, ulong drops, byte[]? signature)
    {
        if (signature is null) return false;
        if (!XrpHex.TryParse(publicKeyHex, 33, out var publicKey)) return false;
        if (!XrpClaimMessage.TryParseChannelId(channelIdHex, out var channelId)) return false;
        return XrpSignatures.Verify(publicKey, XrpClaimMessage.Encode(channelId, drops), signature);
    }

    /// <summary>Verifies a claim record's signature against its own channel, amount and public key.</summary>
    public static bool Verify(XrpClaim? claim) =>
        claim is not null && XrpHex.TryParse(claim.Signature, out var signature) && Verify(claim.PublicKey, claim.ChannelId, claim.Drops, signature);
}

/// <summary>A claim as exchanged between peers.</summary>
/// <param name="ChannelId">32-byte channel id, hex.</param>
/// <param name="Drops">Cumulative amount authorized, in drops.</param>
/// <param name="Signature">Signature over <see cref="XrpClaimMessage"/>, hex.</param>
/// <param name="PublicKey">The 33-byte public key that signed it (the channel's PublicKey field), hex.</param>
public sealed record XrpClaim(string ChannelId, ulong Drops, string Signature, string PublicKey);

/// <summary>What the receiving side knows about a channel: its id, the PublicKey on ledger and the channel's Amount (capacity).</summary>
public sealed record XrpChannelTerms(string ChannelId, string PublicKey, ulong CapacityDrops);

/// <summary>Why a claim was accepted or rejected by <see cref="XrpClaimValidator"/>.</summary>
public enum XrpClaimValidationResult
{
    Valid = 0,
    /// <summary>The claim's channel id is not 32 bytes of hex.</summary>
    MalformedChannelId,
    /// <summary>The claim's public key is not a 33-byte XRPL key (02/03 or ED prefix).</summary>
    MalformedPublicKey,
    /// <summary>The signature is not hex.</summary>
    MalformedSignature,
    /// <summary>The claim is for another channel.</summary>
    WrongChannel,
    /// <summary>The claim's public key is not the channel's.</summary>
    WrongPublicKey,
    /// <summary>The amount is not strictly above the last accepted one.</summary>
    NotIncreasing,
    /// <summary>The amount is above the channel's capacity (its Amount).</summary>
    ExceedsCapacity,
    /// <summary>The signature does not verify (including non-canonical high-S secp256k1 signatures).</summary>
    InvalidSignature,
}

/// <summary>The settlement layer's acceptance check for an incoming claim. Never throws.</summary>
public static class XrpClaimValidator
{
    /// <param name="claim">The incoming claim.</param>
    /// <param name="channel">The channel as known from the ledger.</param>
    /// <param name="lastAcceptedDrops">The highest amount accepted before on this channel; null if none (then any amount, 0 included, may be the first).</param>
    public static XrpClaimValidationResult Validate(XrpClaim claim, XrpChannelTerms channel, ulong? lastAcceptedDrops)
    {
        ArgumentNullException.ThrowIfNull(claim);
        ArgumentNullException.ThrowIfNull(channel);
        if (!XrpClaimMessage.TryParseChannelId(claim.ChannelId, out var claimChannel)) return XrpClaimValidationResult.MalformedChannelId;
        if (!XrpHex.TryParse(claim.PublicKey, 33, out var claimKey) || XrpSignatures.KeyTypeOf(claimKey) is null)
            return XrpClaimValidationResult.MalformedPublicKey;
        if (!XrpHex.TryParse(claim.Signature, out var signature) || signature.Length == 0) return XrpClaimValidationResult.MalformedSignature;
        if (!XrpClaimMessage.TryParseChannelId(channel.ChannelId, out var expectedChannel) || !claimChannel.AsSpan().SequenceEqual(expectedChannel))
            return XrpClaimValidationResult.WrongChannel;
        if (!XrpHex.TryParse(channel.PublicKey, 33, out var expectedKey) || !claimKey.AsSpan().SequenceEqual(expectedKey))
            return XrpClaimValidationResult.WrongPublicKey;
        if (lastAcceptedDrops is { } last && claim.Drops <= last) return XrpClaimValidationResult.NotIncreasing;
        if (claim.Drops > channel.CapacityDrops) return XrpClaimValidationResult.ExceedsCapacity;
        return XrpSignatures.Verify(claimKey, XrpClaimMessage.Encode(claimChannel, claim.Drops), signature)
            ? XrpClaimValidationResult.Valid
            : XrpClaimValidationResult.InvalidSignature;
    }
}
