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

    /// <summary>Applies every item in one transaction; callers complete only after COMMIT, or all fail.</summary>
    private void CommitBatch(List<WorkItem> items)
    {
        long started = Stopwatch.GetTimestamp();
        var view = new BatchView(this);
        try
        {
            using var tx = _writer.BeginTransaction(deferred: false);
            view.Transaction = tx;
            Prefetch(items, view);
            var now = _time.GetUtcNow();
            foreach (var item in items)
            {
                var changes = item.Apply(view, now);
                if (changes is not null) view.Absorb(changes);
            }
            Write(view.Changes, tx);
            tx.Commit();
        }
        catch (Exception e)
        {
            // Nothing was committed (the transaction rolled back) and the cache is untouched.
            var failure = e as LedgerUnavailableException ?? new LedgerUnavailableException($"ledger commit failed: {e.Message}", e);
            foreach (var item in items) item.Fail(failure);
            return;
        }
        MergeIntoCache(view.Changes);
        foreach (var item in items) item.Complete();
        BatchCommitted?.Invoke(items.Count, Stopwatch.GetElapsedTime(started));
    }

    private void MergeIntoCache(LedgerChangeSet changes)
    {
        foreach (var (id, a) in changes.Accounts) _accounts[id] = a;
        foreach (var t in changes.Transfers)
        {
            if (t.Flags.HasFlag(TransferFlags.Pending)) _openPending[t.Id] = t;
        }
        foreach (var (id, state) in changes.PendingStates)
        {
            if (state != PendingState.Open) _openPending.Remove(id);
        }
    }

    private void Write(LedgerChangeSet changes, SqliteTransaction tx)
    {
        if (changes.Accounts.Count > 0) WriteAccounts(changes.Accounts.Values, tx);
        if (changes.Transfers.Count > 0) WriteTransfers(changes, tx);
        var inserted = changes.Transfers.Select(t => t.Id).ToHashSet();
        var stateOnly = changes.PendingStates.Where(s => !inserted.Contains(s.Key)).ToList();
        if (stateOnly.Count == 0) return;
        using var cmd = _writer.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "UPDATE transfers SET pending_state = $s WHERE id = $id";
        var s = cmd.Parameters.Add("$s", SqliteType.Integer);
        var id = cmd.Parameters.Add("$id", SqliteType.Text);
        foreach (var (pendingId, state) in stateOnly)
        {
            s.Value = (long)state;
            id.Value = Id(pendingId);
            Invariant.Check(cmd.ExecuteNonQuery() == 1, $"pending transfer {pendingId:X} missing while changing its state");
        }
    }

    private void WriteAccounts(IEnumerable<Account> accounts, SqliteTransaction tx)
    {
        using var cmd = _writer.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = $"""
            INSERT INTO accounts ({AccountColumns}) VALUES ($id, $ledger, $code, $flags, $limit, $name, $dp, $dP, $cp, $cP, $created)
            ON CONFLICT (id) DO UPDATE SET debit_limit = excluded.debit_limit, debits_pending = excluded.debits_pending,
              debits_posted = excluded.debits_posted, credits_pending = excluded.credits_pending, credits_posted = excluded.credits_posted
            """;
        foreach (var a in accounts)
        {
            cmd.Parameters.Clear();
            cmd.Parameters.AddWithValue("$id", Id(a.Id));
            cmd.Parameters.AddWithValue("$ledger", (long)a.Ledger);
            cmd.Parameters.AddWithValue("$code", (long)a.Code);
            cmd.Parameters.AddWithValue("$flags", (long)a.Flags);
            cmd.Parameters.AddWithValue("$limit", Amount(a.DebitLimit));
            cmd.Parameters.AddWithValue("$name", a.Name);
            cmd.Parameters.AddWithValue("$dp", Amount(a.DebitsPending));
            cmd.Parameters.AddWithValue("$dP", Amount(a.DebitsPosted));
            cmd.Parameters.AddWithValue("$cp", Amount(a.CreditsPending));
            cmd.Parameters.AddWithValue("$cP", Amount(a.CreditsPosted));
            cmd.Parameters.AddWithValue("$created", Millis(a.CreatedAt));
            cmd.ExecuteNonQuery();
        }
    }

    private void WriteTransfers(LedgerChangeSet changes, SqliteTransaction tx)
    {
        using var cmd = _writer.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = $"INSERT INTO transfers ({TransferColumns}) VALUES ($id, $d, $c, $a, $p, $l, $code, $f, $timeout, $state, $created)";
        var p = new Dictionary<string, SqliteParameter>();
        foreach (var name in new[] { "$id", "$d", "$c", "$a", "$p" }) p[name] = cmd.Parameters.Add(name, SqliteType.Text);
        foreach (var name in new[] { "$l", "$code", "$f", "$timeout", "$state", "$created" }) p[name] = cmd.Parameters.Add(name, SqliteType.Integer);
        foreach (var t in changes.Transfers)
        {
            p["$id"].Value = Id(t.Id);
            p["$d"].Value = Id(t.DebitAccountId);
            p["$c"].Value = Id(t.CreditAccountId);
            p["$a"].Value = Amount(t.Amount);
            p["$p"].Value = t.PendingId == UInt128.Zero ? DBNull.Value : Id(t.PendingId);
            p["$l"].Value = (long)t.Ledger;
            p["$code"].Value = (long)t.Code;
            p["$f"].Value = (long)t.Flags;
            p["$timeout"].Value = t.TimeoutAt is { } at ? Millis(at) : DBNull.Value;
            p["$state"].Value = changes.PendingStates.TryGetValue(t.Id, out var s) ? (long)s : DBNull.Value;
            p["$created"].Value = Millis(t.CreatedAt);
            cmd.ExecuteNonQuery();
        }
    }

    /// <summary>
    /// The committed state as the writer sees it inside its transaction, plus the changes of the
    /// items already applied in this batch. Transfers that are not open pendings are looked up
    /// in the database (idempotency checks on old ids).
    /// </summary>
    private sealed class BatchView(SqliteLedger owner) : ILedgerStateView
    {
        public LedgerChangeSet Changes { get; } = new();
        public SqliteTransaction? Transaction { get; set; }
        private readonly Dictionary<UInt128, Transfer> _batchTransfers = [];

        public Dictionary<UInt128, Account> Accounts => owner._accounts;

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

        /// <summary>Committed rows (or their absence) fetched up front for this batch.</summary>
        public Dictionary<UInt128, (Transfer? Transfer, PendingState? State)> Known { get; } = [];

        public Transfer? GetTransfer(UInt128 id)
        {
            if (_batchTransfers.TryGetValue(id, out var t) || owner._openPending.TryGetValue(id, out t)) return t;
            return Known.TryGetValue(id, out var known) ? known.Transfer : owner.QueryTransfer(id, Transaction).Transfer;
        }

        public PendingState? GetPendingState(UInt128 id)
        {
            if (Changes.PendingStates.TryGetValue(id, out var s)) return s;
            if (owner._openPending.ContainsKey(id)) return PendingState.Open;
            return Known.TryGetValue(id, out var known) ? known.State : owner.QueryTransfer(id, Transaction).State;
        }
    }

    /// <summary>Chunk size of the prefetch's IN list (SQLite allows 32766 parameters; small chunks keep statements cacheable).</summary>
    private const int PrefetchChunk = 200;

    /// <summary>
    /// Looks up every transfer id the batch mentions (new ids for idempotency, pending ids for
    /// post/void) in a few IN queries instead of one query per id; absent ids are remembered too.
    /// </summary>
    private void Prefetch(List<WorkItem> items, BatchView view)
    {
        var ids = new HashSet<UInt128>();
        foreach (var item in items)
        {
            if (item.Transfers is null) continue;
            foreach (var t in item.Transfers)
            {
                if (!_openPending.ContainsKey(t.Id)) ids.Add(t.Id);
                if (t.PendingId != UInt128.Zero && !_openPending.ContainsKey(t.PendingId)) ids.Add(t.PendingId);
            }
        }
        foreach (var id in ids) view.Known[id] = (null, null);
        foreach (var chunk in ids.Chunk(PrefetchChunk))
        {
            using var cmd = _writer.CreateCommand();
            cmd.Transaction = view.Transaction;
            var names = new string[chunk.Length];
            for (int i = 0; i < chunk.Length; i++)
            {
                names[i] = "$p" + i;
                cmd.Parameters.AddWithValue(names[i], Id(chunk[i]));
            }
            cmd.CommandText = $"SELECT {TransferColumns} FROM transfers WHERE id IN ({string.Join(',', names)})";
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                var row = ReadTransfer(r);
                view.Known[row.Transfer.Id] = row;
            }
        }
    }

    private (Transfer? Transfer, PendingState? State) QueryTransfer(UInt128 id, SqliteTransaction? tx)
    {
        using var cmd = _writer.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = $"SELECT {TransferColumns} FROM transfers WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", Id(id));
        using var r = cmd.ExecuteReader();
        if (!r.Read()) return (null, null);
        return ReadTransfer(r);
    }
}
