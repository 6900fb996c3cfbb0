using System.Numerics;
using Nethereum.Signer;

namespace M2M.Settlement.Evm;

/// <summary>Why a claim was accepted or rejected.</summary>
public enum EvmClaimVerificationStatus
{
    Valid = 0,
    /// <summary>The domain has no positive chain id or no 20-byte verifying contract.</summary>
    InvalidDomain,
    /// <summary>The channel id is not 32 bytes of hex.</summary>
    MalformedChannelId,
    /// <summary>The expected sender is not a 20-byte 0x address.</summary>
    MalformedSender,
    /// <summary>The amount is negative or does not fit a uint256, or the deposit/last accepted amount is invalid.</summary>
    InvalidAmount,
    /// <summary>The signature is not 65 bytes of hex, has a bad v, or r/s out of range.</summary>
    MalformedSignature,
    /// <summary>s is in the upper half of the curve order: the contract rejects such (malleable) signatures.</summary>
    MalleableSignature,
    /// <summary>The signature is well formed but was not made by the channel's sender.</summary>
    WrongSigner,
    /// <summary>The cumulative amount is not strictly above the last accepted one.</summary>
    NotAboveLastAccepted,
    /// <summary>The cumulative amount exceeds the channel deposit.</summary>
    ExceedsDeposit,
}

/// <summary>The outcome of <see cref="EvmClaimVerifier.Verify"/>.</summary>
/// <param name="Status">Valid, or the first reason found to reject the claim.</param>
/// <param name="RecoveredSigner">The EIP-55 address recovered from the signature, when it could be recovered.</param>
public readonly record struct EvmClaimVerificationResult(EvmClaimVerificationStatus Status, string? RecoveredSigner)
{
    public bool IsValid => Status == EvmClaimVerificationStatus.Valid;

    public override string ToString() => RecoveredSigner is null ? Status.ToString() : $"{Status} (signer {RecoveredSigner})";
}

/// <summary>
/// Checks a sender's cumulative claim before the recipient accepts it (off chain) or redeems it (on chain),
/// with the same rules as the contract: signer = sender, low-s 65-byte signature with v ∈ {27, 28} (or 0/1),
/// lastAccepted &lt; cumulativeAmount ≤ deposit. Never throws.
/// </summary>
public static class EvmClaimVerifier
{
    // secp256k1 group order n and n / 2.
    private static readonly BigInteger CurveOrder =
        BigInteger.Parse("0FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", System.Globalization.NumberStyles.HexNumber);
    private static readonly BigInteger HalfCurveOrder = CurveOrder / 2;

    /// <summary>Verifies a claim against the channel's sender, deposit and the last amount already accepted.</summary>
    /// <param name="domain">The channel contract's EIP-712 domain.</param>
    /// <param name="channelId">32-byte channel id, hex.</param>
    /// <param name="cumulativeAmount">The claimed cumulative total, in wei.</param>
    /// <param name="signatureHex">65-byte signature, hex.</param>
    /// <param name="expectedSender">The channel's sender address.</param>
    /// <param name="lastAcceptedAmount">The highest cumulative amount accepted so far (0 for none).</param>
    /// <param name="deposit">The channel's current total deposit, in wei.</param>
    public static EvmClaimVerificationResult Verify(
        EvmClaimDomain? domain,
        string? channelId,
        BigInteger cumulativeAmount,
        string? signatureHex,
        string? expectedSender,
        BigInteger lastAcceptedAmount,
        BigInteger deposit)
    {
        try
        {
            if (!EvmClaimEncoding.IsValidDomain(domain)) return Fail(EvmClaimVerificationStatus.InvalidDomain);
            if (!EvmClaimEncoding.TryParseChannelId(channelId, out var id)) return Fail(EvmClaimVerificationStatus.MalformedChannelId);
            if (!EvmClaimEncoding.IsValidAddress(expectedSender)) return Fail(EvmClaimVerificationStatus.MalformedSender);
            if (!FitsUint256(cumulativeAmount) || !FitsUint256(lastAcceptedAmount) || !FitsUint256(deposit))
                return Fail(EvmClaimVerificationStatus.InvalidAmount);

            var status = TryRecover(domain!, id, cumulativeAmount, signatureHex, out var signer);
            if (status != EvmClaimVerificationStatus.Valid) return new(status, signer);
            if (!EvmClaimEncoding.SameAddress(signer!, expectedSender!)) return new(EvmClaimVerificationStatus.WrongSigner, signer);
            if (cumulativeAmount <= lastAcceptedAmount) return new(EvmClaimVerificationStatus.NotAboveLastAccepted, signer);
            if (cumulativeAmount > deposit) return new(EvmClaimVerificationStatus.ExceedsDeposit, signer);
            return new(EvmClaimVerificationStatus.Valid, signer);
        }
        catch (Exception)
        {
            // Defensive: any library failure on hostile input is a malformed signature, never an exception.
            return Fail(EvmClaimVerificationStatus.MalformedSignature);
        }
    }

    /// <summary>Recovers the address that signed the claim, or null when the input is malformed or malleable.</summary>
    public static string? RecoverSigner(EvmClaimDomain? domain, string? channelId, BigInteger cumulativeAmount, string? signatureHex)
    {
        try
        {
            if (!EvmClaimEncoding.IsValidDomain(domain) || !EvmClaimEncoding.TryParseChannelId(channelId, out var id) || !FitsUint256(cumulativeAmount))
                return null;
            return TryRecover(domain!, id, cumulativeAmount, signatureHex, out var signer) == EvmClaimVerificationStatus.Valid ? signer : null;
        }
        catch (Exception)
        {
            return null;
        }
    }

    private static EvmClaimVerificationStatus TryRecover(EvmClaimDomain domain, byte[] channelId, BigInteger amount, string? signatureHex, out string? signer)
    {
        signer = null;
        if (!EvmClaimEncoding.TryParseHex(signatureHex, out var sig) || sig.Length != 65) return EvmClaimVerificationStatus.MalformedSignature;
        var r = new BigInteger(sig.AsSpan(0, 32), isUnsigned: true, isBigEndian: true);
        var s = new BigInteger(sig.AsSpan(32, 32), isUnsigned: true, isBigEndian: true);
        var v = sig[64] < 27 ? sig[64] + 27 : sig[64];
        if (v != 27 && v != 28) return EvmClaimVerificationStatus.MalformedSignature;
        if (r.IsZero || r >= CurveOrder || s.IsZero || s >= CurveOrder) return EvmClaimVerificationStatus.MalformedSignature;
        if (s > HalfCurveOrder) return EvmClaimVerificationStatus.MalleableSignature;

        var digest = EvmClaimEncoding.Digest(domain, channelId, amount);
        var signature = EthECDSASignatureFactory.FromComponents(sig[..32], sig[32..64], (byte)v);
        EthECKey key;
        try
        {
            key = EthECKey.RecoverFromSignature(signature, digest);
        }
        catch (Exception)
        {
            return EvmClaimVerificationStatus.MalformedSignature;
        }
        if (key is null) return EvmClaimVerificationStatus.MalformedSignature;
        signer = key.GetPublicAddress();
        return EvmClaimVerificationStatus.Valid;
    }

    private static bool FitsUint256(BigInteger value) => value >= 0 && value <= EvmClaimEncoding.MaxUint256;

    private static EvmClaimVerificationResult Fail(EvmClaimVerificationStatus status) => new(status, null);
}
