namespace M2M.Settlement.Coordination;

/// <summary>Why <see cref="ISettlementStore.CreateAsync"/> did not create a settlement.</summary>
public enum CreateOutcome
{
    Created,
    /// <summary>The peer already has an open settlement (returned instead).</summary>
    AlreadyOpen,
    /// <summary>An automatic settlement of this peer started less than minIntervalSeconds ago (on any node).</summary>
    TooSoon,
    /// <summary>The builder found nothing to settle.</summary>
    Nothing,
}

/// <summary>
/// Durable settlement records, in the ledger's store. Creation is serialized per peer across every
/// node sharing the store (an advisory lock on PostgreSQL, the single writer on SQLite): the open
/// check, the minimum interval and the balance read done by the builder all happen under that
/// lock, so two nodes can never open two settlements for one obligation. A record is worked by the
/// node holding its lease; a lease that is not renewed (a dead node) expires and another node
/// resumes the record with the same id, which is the idempotency key everywhere.
/// </summary>
public interface ISettlementStore : IDisposable
{
    /// <summary>"sqlite" or "postgres".</summary>
    string Backend { get; }

    /// <summary>
    /// Under the peer's lock: returns the open settlement if any; else, when <paramref name="minInterval"/> is
    /// positive and the last settlement of the peer started less than that before <paramref name="now"/>, TooSoon;
    /// else runs <paramref name="build"/> (which reads the balance) and inserts what it returns. A store in the SQLite
    /// ledger's file commits the record together with <paramref name="reservation"/> (the pending debit of its amount)
    /// in one commit of the ledger's writer, an outbox (RELIABILITY.md rule 5); other stores insert the record alone and
    /// the coordinator reserves before paying (same transfer id, so both ways end in one reservation).
    /// </summary>
    Task<(CreateOutcome Outcome, SettlementRecord? Record)> CreateAsync(string peerId, DateTimeOffset now, TimeSpan minInterval,
        Func<CancellationToken, Task<SettlementRecord?>> build, Func<SettlementRecord, Core.Ledger.Transfer>? reservation, CancellationToken ct);

    /// <summary>Takes or renews the lease of an open record for <paramref name="holder"/>; false when another live holder has it or it is closed.</summary>
    Task<bool> TryLeaseAsync(Guid id, string holder, TimeSpan ttl, CancellationToken ct);

    /// <summary>
    /// RFC 38 incoming settlement, under the peer's lock: a key seen before returns its stored credit (Replayed);
    /// a new key runs <paramref name="convert"/> over the peer's leftover and stores the credit and the new leftover
    /// in one transaction. A key reused with another quantity is refused.
    /// </summary>
    Task<Rfc38.IncomingCredit> RecordIncomingAsync(string peerId, string key, System.Numerics.BigInteger amount, byte scale,
        Func<Rfc38.Leftover, (ulong Credit, Rfc38.Leftover Left)> convert, DateTimeOffset now, CancellationToken ct);

    /// <summary>Inserts a record as is (imports from the pre-2.1 settlements.db and tests); returns the existing open one for the peer instead, if any.</summary>
    SettlementRecord CreateOrGetOpen(SettlementRecord record);

    void Update(SettlementRecord record);

    SettlementRecord? Get(Guid id);

    SettlementRecord? OpenFor(string peerId);

    IReadOnlyList<SettlementRecord> List(SettlementState? state = null, string? peerId = null);
}
