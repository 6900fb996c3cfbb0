using System.Runtime.CompilerServices;
using M2M.Core.Ledger;
using M2M.Migrations;
using Microsoft.Data.Sqlite;

namespace M2M.Ledger.Sqlite;

public sealed partial class SqliteLedger
{
    public ValueTask<IReadOnlyList<CreateAccountResult>> CreateAccountsAsync(IReadOnlyList<Account> accounts, CancellationToken ct = default)
    {
        var results = new List<CreateAccountResult>(accounts.Count);
        Waiter? waiter;
        lock (_gate)
        {
            ThrowIfUnavailable();
            var now = _time.GetUtcNow();
            var changes = new LedgerChangeSet();
            foreach (var a in accounts)
            {
                var existing = changes.Accounts.GetValueOrDefault(a.Id) ?? _accounts.GetValueOrDefault(a.Id);
                var valid = AccountRules.Validate(a);
                if (valid != CreateAccountResult.Ok) results.Add(valid);
                else if (existing is not null) results.Add(AccountRules.SameDefinition(existing, a) ? CreateAccountResult.Exists : CreateAccountResult.ExistsWithDifferentFields);
                else
                {
                    changes.Accounts[a.Id] = a with { DebitsPending = 0, DebitsPosted = 0, CreditsPending = 0, CreditsPosted = 0, CreatedAt = now };
                    results.Add(CreateAccountResult.Ok);
                }
            }
            Record(changes);
            waiter = WaitFor(mayReturnBeforeCommit: false);
        }
        return Returning<IReadOnlyList<CreateAccountResult>>(results, waiter, ct);
    }

    /// <summary>
    /// Applied now, in memory; returns at once when every transfer is a pending or a void (the
    /// reserve and its release), otherwise once everything applied so far is committed.
    /// </summary>
    public ValueTask<IReadOnlyList<CreateTransferResult>> CreateTransfersAsync(IReadOnlyList<Transfer> transfers, CancellationToken ct = default)
    {
        CreateTransferResult[] results;
        Waiter? waiter;
        lock (_gate)
        {
            ThrowIfUnavailable();
            (results, var changes) = LedgerEngine.Apply(transfers, this, _time.GetUtcNow(), _workspace);
            Record(changes);
            waiter = WaitFor(mayReturnBeforeCommit: ReservesOrReleasesOnly(transfers));
        }
        return Returning<IReadOnlyList<CreateTransferResult>>(results, waiter, ct);
    }

    /// <summary>
    /// <see cref="ISqliteLedgerFile"/>: the transfers, and when all are applied the rows, in one commit of the writer
    /// (no second writer on the file). Always waits for that commit, even for a reservation.
    /// </summary>
    public async Task<IReadOnlyList<CreateTransferResult>> CreateTransfersWithAsync(IReadOnlyList<Transfer> transfers, Action<SqliteConnection, SqliteTransaction> rows, CancellationToken ct)
    {
        CreateTransferResult[] results;
        Waiter waiter;
        lock (_gate)
        {
            ThrowIfUnavailable();
            (results, var changes) = LedgerEngine.Apply(transfers, this, _time.GetUtcNow(), _workspace);
            if (Array.TrueForAll(results, r => r.IsApplied())) _next.Rows.Add(rows);
            Record(changes, roundTrip: true); // a call even when the transfers existed already: the rows still need a commit
            waiter = WaitFor(mayReturnBeforeCommit: false)!;
        }
        await waiter.Task.WaitAsync(ct).ConfigureAwait(false);
        return results;
    }

    public ValueTask<bool> SetDebitLimitAsync(UInt128 id, UInt128? debitLimit, CancellationToken ct = default)
    {
        Waiter? waiter;
        lock (_gate)
        {
            ThrowIfUnavailable();
            if (!_accounts.TryGetValue(id, out var a)) return ValueTask.FromResult(false);
            var changes = new LedgerChangeSet();
            changes.Accounts[id] = AccountRules.WithDebitLimit(a, debitLimit);
            Record(changes);
            waiter = WaitFor(mayReturnBeforeCommit: false);
        }
        return Returning(true, waiter, ct);
    }

    public ValueTask<int> ExpirePendingAsync(DateTimeOffset now, CancellationToken ct = default)
    {
        int count;
        Waiter? waiter;
        lock (_gate)
        {
            ThrowIfUnavailable();
            var due = _openPending.Values.Where(p => p.TimeoutAt <= now).ToList();
            count = due.Count;
            if (count > 0) Record(LedgerEngine.Expire(due, this));
            waiter = count > 0 ? WaitFor(mayReturnBeforeCommit: false) : null;
        }
        return Returning(count, waiter, ct);
    }

    /// <summary>The authoritative state: every applied call, committed or about to be.</summary>
    public ValueTask<Account?> LookupAccountAsync(UInt128 id, CancellationToken ct = default)
    {
        lock (_gate)
        {
            ThrowIfUnavailable();
            return ValueTask.FromResult(_accounts.GetValueOrDefault(id));
        }
    }

    public ValueTask<IReadOnlyList<Account>> ListAccountsAsync(CancellationToken ct = default)
    {
        lock (_gate)
        {
            ThrowIfUnavailable();
            return ValueTask.FromResult<IReadOnlyList<Account>>(_accounts.Values.OrderBy(a => a.Id).ToList());
        }
    }

    public async IAsyncEnumerable<(Transfer Transfer, PendingState? State)> ReadJournalAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        await FlushAsync(ct).ConfigureAwait(false); // the journal then holds every call that returned before this one
        // A separate read connection: WAL gives it a consistent snapshot without blocking the writer.
        await using var snapshot = SqliteSnapshot.Open(_path);
        await foreach (var item in snapshot.Journal(ct).ConfigureAwait(false)) yield return item;
    }

    /// <summary>A round trip through the writer: it commits everything applied before and answers a query on the file.</summary>
    public ValueTask PingAsync(CancellationToken ct = default) => FlushAsync(ct);

    /// <summary>Completes once everything applied before the call is committed and the writer answered once more.</summary>
    public ValueTask FlushAsync(CancellationToken ct = default)
    {
        Waiter waiter;
        lock (_gate)
        {
            ThrowIfUnavailable();
            Record(new LedgerChangeSet(), roundTrip: true);
            waiter = WaitFor(mayReturnBeforeCommit: false)!;
        }
        return new ValueTask(waiter.Task.WaitAsync(ct));
    }

    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_closing) return;
            _closing = true;
            if (_writerIdle || _writerHolding) Monitor.Pulse(_gate);
        }
        await _writerExited.Task.ConfigureAwait(false); // the writer drains what was applied before it stops
        _checkpointer?.Dispose();
        _statements.Dispose();
        _lookup.Dispose();
        _reader.Dispose();
        _writer.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _lock.Dispose(); // last: after the writer connection is closed
    }

    private static bool ReservesOrReleasesOnly(IReadOnlyList<Transfer> transfers)
    {
        for (int i = 0; i < transfers.Count; i++)
        {
            if ((transfers[i].Flags & (TransferFlags.Pending | TransferFlags.VoidPending)) == 0) return false;
        }
        return transfers.Count > 0;
    }

    private static ValueTask<T> Returning<T>(T result, Waiter? waiter, CancellationToken ct) =>
        waiter is null ? ValueTask.FromResult(result) : AfterCommit(result, waiter, ct);

    private static async ValueTask<T> AfterCommit<T>(T result, Waiter waiter, CancellationToken ct)
    {
        await waiter.Task.WaitAsync(ct).ConfigureAwait(false);
        return result;
    }
}
