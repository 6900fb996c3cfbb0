using System.Numerics;
using Nethereum.ABI.EIP712;
using Nethereum.ABI.FunctionEncoding.Attributes;
using Nethereum.Hex.HexConvertors.Extensions;
using Nethereum.Util;

namespace M2M.Settlement.Evm;

/// <summary>
/// The EIP-712 domain of one deployed UnidirectionalChannel contract:
/// {name "M2MChannel", version "1", chainId, verifyingContract}.
/// </summary>
public sealed record EvmClaimDomain(BigInteger ChainId, string VerifyingContract)
{
    public const string Name = "M2MChannel";
    public const string Version = "1";

    /// <summary>The EIP-712 primary type the sender signs: <c>Claim(bytes32 channelId,uint256 cumulativeAmount)</c>.</summary>
    public const string ClaimType = "Claim(bytes32 channelId,uint256 cumulativeAmount)";
}

/// <summary>The EIP-712 <c>Claim</c> struct (reflected on by Nethereum's typed-data encoder).</summary>
[Struct("Claim")]
internal sealed class Eip712Claim
{
    [Parameter("bytes32", "channelId", 1)]
    public byte[] ChannelId { get; set; } = [];

    [Parameter("uint256", "cumulativeAmount", 2)]
    public BigInteger CumulativeAmount { get; set; }
}

/// <summary>Shared EIP-712 and hex helpers. Every Try* method returns false instead of throwing.</summary>
internal static class EvmClaimEncoding
{
    /// <summary>2^256 - 1: the largest uint256.</summary>
    public static readonly BigInteger MaxUint256 = (BigInteger.One << 256) - 1;

    public static TypedData<Domain> TypedData(EvmClaimDomain domain) => new()
    {
        Domain = new Domain
        {
            Name = EvmClaimDomain.Name,
            Version = EvmClaimDomain.Version,
            ChainId = domain.ChainId,
            VerifyingContract = domain.VerifyingContract,
        },
        Types = MemberDescriptionFactory.GetTypesMemberDescription(typeof(Domain), typeof(Eip712Claim)),
        PrimaryType = "Claim",
    };

    /// <summary>The 32-byte EIP-712 digest (keccak256("\x19\x01" ‖ domainSeparator ‖ hashStruct(claim))).</summary>
    public static byte[] Digest(EvmClaimDomain domain, byte[] channelId, BigInteger cumulativeAmount)
    {
        var message = new Eip712Claim { ChannelId = channelId, CumulativeAmount = cumulativeAmount };
        return Eip712TypedDataEncoder.Current.EncodeAndHashTypedData(message, TypedData(domain));
    }

    public static bool TryParseChannelId(string? hex, out byte[] channelId)
    {
        channelId = [];
        if (!TryParseHex(hex, out var bytes) || bytes.Length != 32) return false;
        channelId = bytes;
        return true;
    }

    public static bool TryParseHex(string? hex, out byte[] bytes)
    {
        bytes = [];
        if (hex is null) return false;
        var s = hex.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? hex[2..] : hex;
        if (s.Length % 2 != 0) return false;
        foreach (var ch in s)
        {
            if (!char.IsAsciiHexDigit(ch)) return false;
        }
        bytes = Convert.FromHexString(s);
        return true;
    }

    public static bool IsValidAddress(string? address) =>
        address is not null && TryParseHex(address, out var b) && b.Length == 20 && address.StartsWith("0x", StringComparison.OrdinalIgnoreCase);

    public static bool IsValidDomain(EvmClaimDomain? domain) =>
        domain is not null && domain.ChainId > 0 && domain.ChainId <= MaxUint256 && IsValidAddress(domain.VerifyingContract);

    public static bool SameAddress(string a, string b) => AddressUtil.Current.AreAddressesTheSame(a, b);

    public static string ToHex(byte[] bytes) => bytes.ToHex(prefix: true);
}
