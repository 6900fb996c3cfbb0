using System.Globalization;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;

namespace M2M.Core.Ledger;

/// <summary>
/// The one home of transfer codes and of the ids derived for settlement transfers. A derived id
/// is the idempotency key of one ledger change: every node and every retry computes the same id
/// for the same settlement step, so the ledger applies it once (a resend answers Exists).
/// </summary>
public static class TransferIds
{
    /// <summary>A packet's two linked legs (and their post or void).</summary>
    public const ushort PacketCode = 1;
    /// <summary>We paid a peer: peer account → settlement account (reserved pending, posted once paid).</summary>
    public const ushort SettlementCode = 2;
    /// <summary>A peer paid us by a payment-channel claim: settlement account → peer account.</summary>
    public const ushort ClaimCode = 3;
    /// <summary>A peer paid us through our RFC 38 settlement engine: settlement account → peer account.</summary>
    public const ushort EngineCreditCode = 4;
    /// <summary>
    /// A 1.x balance brought in by <c>ledger import</c>. It shares 4 with <see cref="EngineCreditCode"/>:
    /// both shipped in 2.0 and ledgers already hold it, so the value stays (nothing reads codes back to tell them apart).
    /// </summary>
    public const ushort ImportCode = 4;
    /// <summary>A peer paid us by a BTP TRANSFER (settlement.acceptBtpTransfer): settlement account → peer account.</summary>
    public const ushort BtpTransferCode = 5;
    /// <summary>A Fulfill we paid downstream but could not deliver upstream, booked to the connector-loss account.</summary>
    public const ushort UnrecoverableFulfillCode = 6;

    /// <summary>The pending debit that reserves a settlement before it is paid (RELIABILITY.md rule 5).</summary>
    public static UInt128 SettlementReserve(Guid settlementId) => FromGuid(settlementId);

    /// <summary>The post of <see cref="SettlementReserve"/> once the payment is confirmed.</summary>
    public static UInt128 SettlementPost(Guid settlementId) => Derived("settlement-post", settlementId.ToString());

    /// <summary>The void of <see cref="SettlementReserve"/> when the settlement is given up.</summary>
    public static UInt128 SettlementVoid(Guid settlementId) => Derived("settlement-void", settlementId.ToString());

    /// <summary>The credit for an accepted EVM claim: the same (channel, cumulative amount) always maps to the same transfer.</summary>
    public static UInt128 EvmClaim(string channelId, BigInteger cumulative) =>
        Derived("evm-claim", channelId.ToLowerInvariant(), cumulative.ToString(CultureInfo.InvariantCulture));

    /// <summary>The credit for an incoming RFC 38 settlement, keyed by the engine's Idempotency-Key.</summary>
    public static UInt128 EngineCredit(string peerId, string idempotencyKey) => Derived("engine-credit", peerId, idempotencyKey);

    /// <summary>A settlement id's 16 bytes as a transfer id (the layout 2.0.0 used for the settlement debit).</summary>
    public static UInt128 FromGuid(Guid id)
    {
        Span<byte> bytes = stackalloc byte[16];
        id.TryWriteBytes(bytes);
        return new UInt128(BitConverter.ToUInt64(bytes[8..]), BitConverter.ToUInt64(bytes));
    }

    /// <summary>SHA-256 of "m2m:{purpose}:{part}:{part}…", the first 16 bytes; never 0.</summary>
    public static UInt128 Derived(string purpose, params string[] parts)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes($"m2m:{purpose}:{string.Join(':', parts)}"), hash);
        var id = new UInt128(BitConverter.ToUInt64(hash), BitConverter.ToUInt64(hash[8..]));
        return id == UInt128.Zero ? 1 : id;
    }
}
