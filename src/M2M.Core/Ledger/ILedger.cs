namespace M2M.Core.Ledger;

/// <summary>
/// A durable double-entry ledger. Every call is atomic per linked chain and idempotent by id;
/// a returned Ok means the change is committed to durable storage (a waiter completes only
/// after COMMIT), with one exception (RELIABILITY.md, durability of the reserve): a backend that
/// one process owns (SQLite) may return a call made only of pending and void transfers once it is
/// applied to its authoritative state, before the commit, provided every later call that waits
/// for its commit also covers all earlier changes (one ordered log). Implementations batch
/// concurrent calls into one transaction (group commit).
/// </summary>
public interface ILedger : IAsyncDisposable
{
    /// <summary>"sqlite", "postgres", …: for health and metrics.</summary>
    string Backend { get; }

    ValueTask<IReadOnlyList<CreateAccountResult>> CreateAccountsAsync(IReadOnlyList<Account> accounts, CancellationToken ct = default);

    /// <summary>Applies transfers in order; results align with the input.</summary>
    ValueTask<IReadOnlyList<CreateTransferResult>> CreateTransfersAsync(IReadOnlyList<Transfer> transfers, CancellationToken ct = default);

    /// <summary>Changes an account's DebitLimit (a peer's credit limit from config); false if the account does not exist.</summary>
    ValueTask<bool> SetDebitLimitAsync(UInt128 id, UInt128 debitLimit, CancellationToken ct = default);

    ValueTask<Account?> LookupAccountAsync(UInt128 id, CancellationToken ct = default);

    ValueTask<IReadOnlyList<Account>> ListAccountsAsync(CancellationToken ct = default);

    /// <summary>Every transfer in commit order, with the state of pending ones (for verify and audits).</summary>
    IAsyncEnumerable<(Transfer Transfer, PendingState? State)> ReadJournalAsync(CancellationToken ct = default);

    /// <summary>Voids every open pending transfer whose timeout is at or before <paramref name="now"/>; returns how many.</summary>
    ValueTask<int> ExpirePendingAsync(DateTimeOffset now, CancellationToken ct = default);

    /// <summary>A cheap round trip to the store; throws <see cref="LedgerUnavailableException"/> when down.</summary>
    ValueTask PingAsync(CancellationToken ct = default);
}
