using System.Runtime.CompilerServices;
using M2M.Core.Ledger;
using static M2M.Ledger.Sqlite.SqliteSchema;

namespace M2M.Ledger.Sqlite;

public sealed partial class SqliteLedger
{
    public async ValueTask<IReadOnlyList<CreateAccountResult>> CreateAccountsAsync(IReadOnlyList<Account> accounts, CancellationToken ct = default) =>
        await Enqueue<IReadOnlyList<CreateAccountResult>>((view, now) =>
        {
            var changes = new LedgerChangeSet();
            var results = new List<CreateAccountResult>(accounts.Count);
            foreach (var a in accounts)
            {
                var existing = view.GetAccount(a.Id);
                var valid = AccountRules.Validate(a);
                if (valid != CreateAccountResult.Ok) results.Add(valid);
                else if (existing is not null) results.Add(AccountRules.SameDefinition(existing, a) ? CreateAccountResult.Exists : CreateAccountResult.ExistsWithDifferentFields);
                else
                {
                    var created = a with { DebitsPending = 0, DebitsPosted = 0, CreditsPending = 0, CreditsPosted = 0, CreatedAt = now };
                    changes.Accounts[a.Id] = created;
                    view.Changes.Accounts[a.Id] = created;
                    results.Add(CreateAccountResult.Ok);
                }
            }
            return (results, changes);
        }, ct).ConfigureAwait(false);

    public async ValueTask<IReadOnlyList<CreateTransferResult>> CreateTransfersAsync(IReadOnlyList<Transfer> transfers, CancellationToken ct = default) =>
        await Enqueue<IReadOnlyList<CreateTransferResult>>((view, now) =>
        {
            var (results, changes) = LedgerEngine.Apply(transfers, view, now);
            return (results, changes);
        }, ct, transfers).ConfigureAwait(false);

    public async ValueTask<bool> SetDebitLimitAsync(UInt128 id, UInt128? debitLimit, CancellationToken ct = default) =>
        await Enqueue((view, _) =>
        {
            var a = view.GetAccount(id);
            if (a is null) return (false, (LedgerChangeSet?)null);
            var changes = new LedgerChangeSet();
            changes.Accounts[id] = AccountRules.WithDebitLimit(a, debitLimit);
            return (true, changes);
        }, ct).ConfigureAwait(false);

    public async ValueTask<int> ExpirePendingAsync(DateTimeOffset now, CancellationToken ct = default) =>
        await Enqueue((view, _) =>
        {
            var due = _openPending.Values.Where(p => p.TimeoutAt <= now && view.GetPendingState(p.Id) == PendingState.Open).ToList();
            if (due.Count == 0) return (0, (LedgerChangeSet?)null);
            return (due.Count, LedgerEngine.Expire(due, view));
        }, ct).ConfigureAwait(false);

    /// <summary>Reads go through the writer queue so they see every commit before them, in order.</summary>
    public async ValueTask<Account?> LookupAccountAsync(UInt128 id, CancellationToken ct = default) =>
        await Enqueue((view, _) => (view.GetAccount(id), (LedgerChangeSet?)null), ct).ConfigureAwait(false);

    public async ValueTask<IReadOnlyList<Account>> ListAccountsAsync(CancellationToken ct = default) =>
        await Enqueue<IReadOnlyList<Account>>((_, _) => (_accounts.Values.OrderBy(a => a.Id).ToList(), null), ct).ConfigureAwait(false);

    public async IAsyncEnumerable<(Transfer Transfer, PendingState? State)> ReadJournalAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        // A separate read connection: WAL gives it a consistent snapshot without blocking the writer.
        await using var snapshot = SqliteSnapshot.Open(_path);
        await foreach (var item in snapshot.Journal(ct).ConfigureAwait(false)) yield return item;
    }

    public async ValueTask PingAsync(CancellationToken ct = default) =>
        await Enqueue((view, _) =>
        {
            Exec(_writer, "SELECT 1", view.Transaction);
            return (true, (LedgerChangeSet?)null);
        }, ct).ConfigureAwait(false);

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writerLoop.ConfigureAwait(false);
        _statements.Dispose();
        _writer.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        await _lock.DisposeAsync().ConfigureAwait(false);
    }
}
