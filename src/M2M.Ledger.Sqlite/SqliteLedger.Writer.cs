using System.Diagnostics;
using M2M.Core.Ledger;
using Microsoft.Data.Sqlite;
using static M2M.Ledger.Sqlite.SqliteSchema;

namespace M2M.Ledger.Sqlite;

public sealed partial class SqliteLedger
{
    /// <summary>One caller's request, applied inside the writer's transaction.</summary>
    private abstract class WorkItem
    {
        /// <summary>Runs against the batch view; returns the changes to write. Must not touch the cache.</summary>
        public abstract LedgerChangeSet? Apply(BatchView view, DateTimeOffset now);
        public abstract void Complete();
        public abstract void Fail(Exception e);

        /// <summary>Transfer ids the item will look up, fetched for the whole batch in a few queries.</summary>
        public IReadOnlyList<Transfer>? Transfers { get; init; }
    }

    private sealed class WorkItem<T>(Func<BatchView, DateTimeOffset, (T Result, LedgerChangeSet? Changes)> apply) : WorkItem
    {
        private readonly TaskCompletionSource<T> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T? _result;

        public Task<T> Task => _done.Task;

        public override LedgerChangeSet? Apply(BatchView view, DateTimeOffset now)
        {
            var (result, changes) = apply(view, now);
            _result = result;
            return changes;
        }

        public override void Complete() => _done.TrySetResult(_result!);

        public override void Fail(Exception e) => _done.TrySetException(e);
    }

    private async Task<T> Enqueue<T>(Func<BatchView, DateTimeOffset, (T, LedgerChangeSet?)> apply, CancellationToken ct, IReadOnlyList<Transfer>? transfers = null)
    {
        var item = new WorkItem<T>(apply) { Transfers = transfers };
        if (!_queue.Writer.TryWrite(item)) throw new LedgerUnavailableException("ledger is closed");
        return await item.Task.WaitAsync(ct).ConfigureAwait(false);
    }

    // Owned by the writer loop: prepared statements and collections reused across batches.
    private WriterStatements _statements = null!;
    private BatchView _view = null!;
    private readonly HashSet<UInt128> _prefetchIds = [];

    private async Task WriteLoopAsync()
    {
        var batch = new List<WorkItem>(MaxBatchItems);
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (batch.Count < MaxBatchItems && _queue.Reader.TryRead(out var item)) batch.Add(item);
            CommitBatch(batch);
            batch.Clear();
        }
    }

    /// <summary>
    /// Applies every item in one transaction; callers complete only after COMMIT, or all fail.
    /// First optimistically (new ids assumed absent, see <see cref="TryCommit"/>); if that
    /// assumption is found wrong the transaction is rolled back and the batch is redone with
    /// every id looked up, so results are exactly those of the lookup path.
    /// </summary>
    private void CommitBatch(List<WorkItem> items)
    {
        long started = Stopwatch.GetTimestamp();
        try
        {
            var now = _time.GetUtcNow();
            if (!TryCommit(items, now, optimistic: true)) Invariant.Check(TryCommit(items, now, optimistic: false), "lookup path must commit or throw");
        }
        catch (Exception e)
        {
            // Nothing was committed (the transaction rolled back) and the cache is untouched.
            var failure = e as LedgerUnavailableException ?? new LedgerUnavailableException($"ledger commit failed: {e.Message}", e);
            foreach (var item in items) item.Fail(failure);
            return;
        }
        MergeIntoCache(_view.Changes);
        foreach (var item in items) item.Complete();
        BatchCommitted?.Invoke(items.Count, Stopwatch.GetElapsedTime(started));
    }

    /// <summary>Batches redone on the lookup path because an id assumed absent existed (for tests).</summary>
    internal long OptimisticRetries { get; private set; }

    /// <summary>
    /// One attempt at the batch in a BEGIN IMMEDIATE transaction. Returns false (rolled back,
    /// nothing written) when <paramref name="optimistic"/> and an id assumed absent exists.
    /// Optimistic: only pending ids outside the open-pending cache are looked up; any other id
    /// not in the batch or cache is answered "absent" and remembered. The assumption is then
    /// verified before COMMIT: an assumed id that the batch INSERTs is checked by the UNIQUE
    /// constraint on transfers.id; one it does not insert (its transfer failed, e.g. a retried
    /// post of a posted pending) is looked up. The engine is deterministic in what the view
    /// answers, so when every assumption holds the results equal the lookup path's.
    /// </summary>
    private bool TryCommit(List<WorkItem> items, DateTimeOffset now, bool optimistic)
    {
        var view = _view;
        view.Reset(optimistic);
        using var tx = _writer.BeginTransaction(deferred: false);
        view.Transaction = tx;
        Prefetch(items, view, pendingIdsOnly: optimistic);
        foreach (var item in items)
        {
            var changes = item.Apply(view, now);
            if (changes is not null) view.Absorb(changes);
        }
        if (optimistic && !AssumptionsHold(view)) return Retry();
        try
        {
            Write(view, tx);
        }
        catch (SqliteException e) when (optimistic && (e.SqliteErrorCode & 0xFF) == SQLitePCL.raw.SQLITE_CONSTRAINT)
        {
            return Retry(); // an id assumed absent was in the table (SQLITE_CONSTRAINT_UNIQUE)
        }
        tx.Commit();
        return true;
    }

    private bool Retry()
    {
        OptimisticRetries++;
        return false; // the caller's `using` rolls the transaction back
    }

    /// <summary>Assumed-absent ids that this batch does not insert: absent in the table too?</summary>
    private bool AssumptionsHold(BatchView view)
    {
        foreach (var id in view.Assumed)
        {
            if (!view.InBatch(id) && _statements.SelectTransfer(id, view.Transaction).Transfer is not null) return false;
        }
        return true;
    }

    private void MergeIntoCache(LedgerChangeSet changes)
    {
        foreach (var (id, a) in changes.Accounts) _accounts[id] = a;
        foreach (var t in changes.Transfers)
        {
            if ((t.Flags & TransferFlags.Pending) != 0) _openPending[t.Id] = t;
        }
        foreach (var (id, state) in changes.PendingStates)
        {
            if (state != PendingState.Open) _openPending.Remove(id);
        }
    }

    private void Write(BatchView view, SqliteTransaction tx)
    {
        var changes = view.Changes;
        foreach (var a in changes.Accounts.Values) _statements.UpsertAccount(a);
        foreach (var t in changes.Transfers)
        {
            _statements.InsertTransfer(t, changes.PendingStates.TryGetValue(t.Id, out var s) ? s : null);
        }
        foreach (var (pendingId, state) in changes.PendingStates)
        {
            if (view.InBatch(pendingId)) continue; // inserted above with its state
            Invariant.Check(_statements.UpdatePendingState(pendingId, state) == 1, $"pending transfer {pendingId:X} missing while changing its state");
        }
    }

    /// <summary>
    /// The committed state as the writer sees it inside its transaction, plus the changes of the
    /// items already applied in this batch. Transfers that are not open pendings are looked up
    /// in the database (idempotency checks on old ids). One instance, reused by every batch.
    /// </summary>
    private sealed class BatchView(SqliteLedger owner) : ILedgerStateView
    {
        public LedgerChangeSet Changes { get; } = new();
        public SqliteTransaction? Transaction { get; set; }
        private readonly Dictionary<UInt128, Transfer> _batchTransfers = [];

        /// <summary>Committed rows (or their absence) fetched up front for this batch.</summary>
        public Dictionary<UInt128, (Transfer? Transfer, PendingState? State)> Known { get; } = [];

        /// <summary>Optimistic batch: ids answered "absent" without a lookup.</summary>
        public HashSet<UInt128> Assumed { get; } = [];
        private bool _optimistic;

        public void Reset(bool optimistic)
        {
            _optimistic = optimistic;
            Assumed.Clear();
            Changes.Accounts.Clear();
            Changes.Transfers.Clear();
            Changes.PendingStates.Clear();
            _batchTransfers.Clear();
            Known.Clear();
            Transaction = null;
        }

        public bool InBatch(UInt128 id) => _batchTransfers.ContainsKey(id);

        public void Absorb(LedgerChangeSet c)
        {
            foreach (var (k, v) in c.Accounts) Changes.Accounts[k] = v;
            foreach (var t in c.Transfers)
            {
                Changes.Transfers.Add(t);
                _batchTransfers[t.Id] = t;
            }
            foreach (var (k, v) in c.PendingStates) Changes.PendingStates[k] = v;
        }

        public Account? GetAccount(UInt128 id) =>
            Changes.Accounts.TryGetValue(id, out var a) ? a : owner._accounts.GetValueOrDefault(id);

        public Transfer? GetTransfer(UInt128 id)
        {
            if (_batchTransfers.TryGetValue(id, out var t) || owner._openPending.TryGetValue(id, out t)) return t;
            if (Known.TryGetValue(id, out var known)) return known.Transfer;
            if (!_optimistic) return owner._statements.SelectTransfer(id, Transaction).Transfer;
            Assumed.Add(id);
            return null;
        }

        public PendingState? GetPendingState(UInt128 id)
        {
            if (Changes.PendingStates.TryGetValue(id, out var s)) return s;
            if (owner._openPending.ContainsKey(id)) return PendingState.Open;
            if (Known.TryGetValue(id, out var known)) return known.State;
            if (!_optimistic) return owner._statements.SelectTransfer(id, Transaction).State;
            Assumed.Add(id);
            return null;
        }
    }

    /// <summary>
    /// Looks up the transfer ids the batch mentions (new ids for idempotency unless
    /// <paramref name="pendingIdsOnly"/>, pending ids for post/void) that are not open pendings,
    /// with the prepared single-id SELECT; absent ids are remembered too.
    /// </summary>
    private void Prefetch(List<WorkItem> items, BatchView view, bool pendingIdsOnly)
    {
        var ids = _prefetchIds;
        ids.Clear();
        foreach (var item in items)
        {
            if (item.Transfers is null) continue;
            for (int i = 0; i < item.Transfers.Count; i++)
            {
                var t = item.Transfers[i];
                if (!pendingIdsOnly && !_openPending.ContainsKey(t.Id)) ids.Add(t.Id);
                if (t.PendingId != UInt128.Zero && !_openPending.ContainsKey(t.PendingId)) ids.Add(t.PendingId);
            }
        }
        foreach (var id in ids) view.Known[id] = _statements.SelectTransfer(id, view.Transaction);
    }
}
