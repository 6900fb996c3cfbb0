using System.Security.Cryptography;
using System.Text;

namespace M2M.Core.Ledger;

/// <summary>
/// How peers map onto ledger accounts. Each asset (code + scale) is one ledger; each peer has one
/// account on its asset's ledger, and the connector has one clearing account per ledger. A packet
/// from A to B is two linked transfers, A → clearing and clearing → B, so with no fees the
/// clearing account nets to zero and A's loss is B's gain. Ids are derived from names, so every
/// node sharing a ledger computes the same ids.
/// </summary>
public static class PeerAccounts
{
    public const ushort PeerAccountCode = 1;
    public const ushort ClearingAccountCode = 2;
    public const ushort SettlementAccountCode = 3;
    public const ushort ConnectorLossAccountCode = 4;
    /// <summary>A Fulfill we paid downstream but could not deliver upstream, booked to the connector-loss account.</summary>
    public const ushort UnrecoverableFulfillTransferCode = 6;
    public const ushort PacketTransferCode = 1;

    public static uint LedgerFor(string assetCode, byte assetScale)
    {
        // FNV-1a: small, stable across processes and releases; 0 is reserved by the model.
        uint hash = 2166136261;
        foreach (byte b in Encoding.UTF8.GetBytes($"{assetCode}/{assetScale}")) hash = (hash ^ b) * 16777619;
        return hash == 0 ? 1 : hash;
    }

    public static UInt128 PeerAccountId(string peerId, uint ledger) => IdFrom($"m2m:peer:{peerId}:{ledger}");

    public static UInt128 ClearingAccountId(uint ledger) => IdFrom($"m2m:clearing:{ledger}");

    public static Account PeerAccount(string peerId, string assetCode, byte assetScale, ulong? creditLimit)
    {
        uint ledger = LedgerFor(assetCode, assetScale);
        return new Account
        {
            Id = PeerAccountId(peerId, ledger),
            Ledger = ledger,
            Code = PeerAccountCode,
            // Without a configured limit the peer may owe without bound (the 1.x behaviour).
            Flags = creditLimit is null ? AccountFlags.None : AccountFlags.DebitsMustNotExceedCredits,
            DebitLimit = creditLimit ?? 0,
            Name = $"peer:{peerId}:{assetCode}/{assetScale}",
        };
    }

    public static Account ClearingAccount(string assetCode, byte assetScale)
    {
        uint ledger = LedgerFor(assetCode, assetScale);
        return new Account { Id = ClearingAccountId(ledger), Ledger = ledger, Code = ClearingAccountCode, Name = $"clearing:{assetCode}/{assetScale}" };
    }

    /// <summary>The account that records value paid out to peers by settlement, one per asset.</summary>
    public static Account SettlementAccount(string assetCode, byte assetScale)
    {
        uint ledger = LedgerFor(assetCode, assetScale);
        return new Account { Id = IdFrom($"m2m:settlement:{ledger}"), Ledger = ledger, Code = SettlementAccountCode, Name = $"settlement:{assetCode}/{assetScale}" };
    }

    /// <summary>
    /// The connector's own loss, one per asset: a next hop's in-time Fulfill is paid on its leg even when
    /// the Fulfill cannot go back upstream, and the difference is debited here (RELIABILITY.md, two legs).
    /// </summary>
    public static Account ConnectorLossAccount(string assetCode, byte assetScale)
    {
        uint ledger = LedgerFor(assetCode, assetScale);
        return new Account { Id = ConnectorLossAccountId(ledger), Ledger = ledger, Code = ConnectorLossAccountCode, Name = $"connector-loss:{assetCode}/{assetScale}" };
    }

    public static UInt128 ConnectorLossAccountId(uint ledger) => IdFrom($"m2m:connector-loss:{ledger}");

    /// <summary>
    /// A fresh transfer id (the idempotency key of one ledger change), time-ordered like a ULID:
    /// the top 48 bits are Unix milliseconds, the low 80 bits random. New ids land at the right
    /// edge of the id and pending-id indexes, so a commit dirties a few index pages instead of one
    /// random page per transfer (TigerBeetle recommends time-based ids for the same reason).
    /// </summary>
    public static UInt128 NewTransferId() => NewTransferId(DateTimeOffset.UtcNow);

    /// <summary><see cref="NewTransferId()"/> at a given instant (for tests).</summary>
    public static UInt128 NewTransferId(DateTimeOffset now)
    {
        Span<byte> random = stackalloc byte[10];
        RandomNumberGenerator.Fill(random);
        ulong millis = (ulong)now.ToUnixTimeMilliseconds() & 0xFFFF_FFFF_FFFF;
        ulong upper = millis << 16 | BitConverter.ToUInt16(random);
        return new UInt128(upper, BitConverter.ToUInt64(random[2..]));
    }

    private static UInt128 IdFrom(string name)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(name), hash);
        return new UInt128(BitConverter.ToUInt64(hash), BitConverter.ToUInt64(hash[8..]));
    }
}
