using System.Collections.Concurrent;
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
    /// <summary>A hosted agent account: its balance is what the node holds for the agent, never below zero.</summary>
    public const ushort HostedAccountCode = 4;
    public const ushort ConnectorLossAccountCode = 5;

    /// <summary>Derived ids are cached: a packet asks for four of them, and SHA-256 per ask was ~9 µs per packet.</summary>
    private const int MaxCachedIds = 4096;
    private static readonly ConcurrentDictionary<(string, byte), uint> LedgerIds = new();
    private static readonly ConcurrentDictionary<(string, uint), UInt128> PeerIds = new();
    private static readonly ConcurrentDictionary<uint, UInt128> ClearingIds = new();

    public static uint LedgerFor(string assetCode, byte assetScale)
    {
        if (LedgerIds.TryGetValue((assetCode, assetScale), out uint cached)) return cached;
        return Cache(LedgerIds, (assetCode, assetScale), ComputeLedger(assetCode, assetScale));
    }

    private static uint ComputeLedger(string assetCode, byte assetScale)
    {
        // FNV-1a: small, stable across processes and releases; 0 is reserved by the model.
        uint hash = 2166136261;
        foreach (byte b in Encoding.UTF8.GetBytes($"{assetCode}/{assetScale}")) hash = (hash ^ b) * 16777619;
        return hash == 0 ? 1 : hash;
    }

    public static UInt128 PeerAccountId(string peerId, uint ledger) =>
        PeerIds.TryGetValue((peerId, ledger), out var id) ? id : Cache(PeerIds, (peerId, ledger), IdFrom($"m2m:peer:{peerId}:{ledger}"));

    public static UInt128 ClearingAccountId(uint ledger) =>
        ClearingIds.TryGetValue(ledger, out var id) ? id : Cache(ClearingIds, ledger, IdFrom($"m2m:clearing:{ledger}"));

    /// <summary>Bounded: peers added at run time cannot grow the cache without limit (it starts over when full).</summary>
    private static TValue Cache<TKey, TValue>(ConcurrentDictionary<TKey, TValue> cache, TKey key, TValue value) where TKey : notnull
    {
        if (cache.Count >= MaxCachedIds) cache.Clear();
        cache[key] = value;
        return value;
    }

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

    /// <summary>
    /// The switch's name for hosted account <paramref name="accountId"/> when it sends or receives: "account:" + id.
    /// Peer ids cannot contain ':', so a hosted account's ledger account never collides with a peer's.
    /// </summary>
    public static string HostedPeerId(string accountId) => "account:" + accountId;

    /// <summary>A hosted agent account: it may not spend more than it holds (debits ≤ credits, limit 0).</summary>
    public static Account HostedAccount(string accountId, string assetCode, byte assetScale)
    {
        uint ledger = LedgerFor(assetCode, assetScale);
        return new Account
        {
            Id = PeerAccountId(HostedPeerId(accountId), ledger),
            Ledger = ledger,
            Code = HostedAccountCode,
            Flags = AccountFlags.DebitsMustNotExceedCredits,
            DebitLimit = 0,
            Name = $"account:{accountId}:{assetCode}/{assetScale}",
        };
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
    /// A fresh transfer id (the idempotency key of one ledger change), time-ordered like a ULID but
    /// without per-id randomness: the top 48 bits are Unix milliseconds, then a 32-bit prefix drawn
    /// once per process, then a 48-bit counter of this process. Within a process ids never repeat
    /// (the counter); across processes and restarts two ids can only collide when two processes drew
    /// the same prefix (2⁻³² per pair) and produced the same counter value in the same millisecond.
    /// New ids land at the right edge of the id and pending-id indexes (TigerBeetle recommends
    /// time-based ids for the same reason). Costs a clock read and an interlocked increment: no
    /// random-number syscall per id.
    /// </summary>
    public static UInt128 NewTransferId() => NewTransferId(DateTimeOffset.UtcNow);

    /// <summary><see cref="NewTransferId()"/> at a given instant (for tests).</summary>
    public static UInt128 NewTransferId(DateTimeOffset now)
    {
        ulong millis = (ulong)now.ToUnixTimeMilliseconds() & 0xFFFF_FFFF_FFFF;
        ulong counter = (ulong)Interlocked.Increment(ref _idCounter) & 0xFFFF_FFFF_FFFF;
        return new UInt128(millis << 16 | ProcessPrefix >> 16, (ulong)(ProcessPrefix & 0xFFFF) << 48 | counter);
    }

    /// <summary>The per-process part of <see cref="NewTransferId()"/>, drawn once from the OS's CSPRNG.</summary>
    public static readonly uint ProcessPrefix = BitConverter.ToUInt32(RandomNumberGenerator.GetBytes(sizeof(uint)));

    private static long _idCounter;

    /// <summary>How many transfer ids this process has issued so far: every later id's counter is larger.</summary>
    public static ulong IssuedTransferIds => (ulong)Volatile.Read(ref _idCounter);

    /// <summary>True (with its counter) when <paramref name="id"/> was issued by <see cref="NewTransferId()"/> in this process.</summary>
    public static bool IsOwnTransferId(UInt128 id, out ulong counter)
    {
        counter = (ulong)id & 0xFFFF_FFFF_FFFF;
        return (uint)(id >> 48) == ProcessPrefix;
    }

    private static UInt128 IdFrom(string name)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(name), hash);
        return new UInt128(BitConverter.ToUInt64(hash), BitConverter.ToUInt64(hash[8..]));
    }
}
