using System.Numerics;
using Nethereum.Signer;
using Nethereum.Signer.EIP712;

namespace M2M.Settlement.Evm;

/// <summary>Signs cumulative channel claims as EIP-712 typed data (eth_signTypedData_v4 compatible).</summary>
public static class EvmClaimSigner
{
    /// <summary>
    /// Signs <c>Claim(channelId, cumulativeAmount)</c> under <paramref name="domain"/>.
    /// Returns the 65-byte signature r ‖ s ‖ v (v = 27/28, low s) as 0x-prefixed hex.
    /// </summary>
    /// <param name="privateKeyHex">The channel sender's secp256k1 private key (hex, 0x optional).</param>
    /// <param name="channelId">The 32-byte channel id as hex.</param>
    /// <param name="cumulativeAmount">Total wei owed to the recipient so far (0 ≤ amount &lt; 2^256).</param>
    /// <exception cref="ArgumentException">Malformed key, domain, channel id or amount.</exception>
    public static string Sign(string privateKeyHex, EvmClaimDomain domain, string channelId, BigInteger cumulativeAmount)
    {
        ArgumentNullException.ThrowIfNull(privateKeyHex);
        if (!EvmClaimEncoding.TryParseHex(privateKeyHex, out var keyBytes) || keyBytes.Length != 32)
            throw new ArgumentException("private key must be 32 bytes of hex", nameof(privateKeyHex));
        if (!EvmClaimEncoding.IsValidDomain(domain))
            throw new ArgumentException("domain needs a positive chain id and a 20-byte 0x verifying contract", nameof(domain));
        if (!EvmClaimEncoding.TryParseChannelId(channelId, out var id))
            throw new ArgumentException("channel id must be 32 bytes of hex", nameof(channelId));
        if (cumulativeAmount < 0 || cumulativeAmount > EvmClaimEncoding.MaxUint256)
            throw new ArgumentOutOfRangeException(nameof(cumulativeAmount), "must fit a uint256");

        var message = new Eip712Claim { ChannelId = id, CumulativeAmount = cumulativeAmount };
        return Eip712TypedDataSigner.Current.SignTypedDataV4(message, EvmClaimEncoding.TypedData(domain), new EthECKey(keyBytes, true));
    }

    /// <summary>The EIP-712 digest that <see cref="Sign"/> signs; equals the contract's <c>claimDigest(id, amount)</c>.</summary>
    public static byte[] Digest(EvmClaimDomain domain, string channelId, BigInteger cumulativeAmount)
    {
        if (!EvmClaimEncoding.IsValidDomain(domain)) throw new ArgumentException("invalid domain", nameof(domain));
        if (!EvmClaimEncoding.TryParseChannelId(channelId, out var id)) throw new ArgumentException("channel id must be 32 bytes of hex", nameof(channelId));
        if (cumulativeAmount < 0 || cumulativeAmount > EvmClaimEncoding.MaxUint256) throw new ArgumentOutOfRangeException(nameof(cumulativeAmount));
        return EvmClaimEncoding.Digest(domain, id, cumulativeAmount);
    }
}
