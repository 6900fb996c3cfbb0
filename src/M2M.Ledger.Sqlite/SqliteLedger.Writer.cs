using System.Diagnostics;
using M2M.Core.Ledger;

namespace M2M.Ledger.Sqlite;

/// <summary>
/// The writer thread: takes the batch the callers filled, writes it in one BEGIN IMMEDIATE
/// transaction, and after COMMIT completes every caller that waited for it in one thread-pool
/// work item (their continuations run there, one after the other, instead of one hop each).
/// </summary>
public sealed partial class SqliteLedger
{
    /// <summary>Changes applied since the last batch was taken, in apply order (last write wins per row).</summary>
    private sealed class WriteBatch
    {
        public Dictionary<UInt128, Account> Accounts { get; } = [];
        public List<Transfer> Transfers { get; } = [];
        public HashSet<UInt128> Inserted { get; } = [];
        public Dictionary<UInt128, PendingState> States { get; } = [];
        /// <summary>Calls recorded (changes, or round trips that only need the writer to answer).</summary>
        public int Calls { get; set; }
        /// <summary>The last call's sequence number: committing the batch makes everything up to it durable.</summary>
        public long Seq { get; set; }

        public void Clear()
        {
            Accounts.Clear();
            Transfers.Clear();
            Inserted.Clear();
            States.Clear();
            Calls = 0;
        }
    }

    /// <summary>A caller waiting until every call up to <see cref="Seq"/> is committed (continuations run inline on completion).</summary>
    private sealed class Waiter(long seq) : TaskCompletionSource(TaskCreationOptions.None)
    {
        public long Seq { get; } = seq;
    }

    private WriteBatch _next = new();
    private WriteBatch _spare = new();
    private readonly Queue<Waiter> _waiters = new();
    private long _appliedSeq;
    private long _durableSeq;
    private bool _writerIdle;
    private bool _closing;
    /// <summary>Set after a failed commit until memory is reloaded from the file; calls fail meanwhile.</summary>
    private Exception? _failed;
    private readonly WriterStatements _statements;

    /// <summary>Under the gate: a waiter for everything applied so far, or null when it is all committed (or may stay in flight).</summary>
    private Waiter? WaitFor(bool mayReturnBeforeCommit)
    {
        if (_appliedSeq == _durableSeq) return null;
        if (mayReturnBeforeCommit && _appliedSeq - _durableSeq <= MaxUnflushedCalls) return null;
        var w = new Waiter(_appliedSeq);
        _waiters.Enqueue(w);
        return w;
    }

    private void ThrowIfUnavailable()
    {
        if (_closing) throw new LedgerUnavailableException("ledger is closed");
        if (_failed is { } e) throw new LedgerUnavailableException($"ledger is recovering from a failed commit: {e.Message}", e);
    }

    private void WriterMain()
    {
        try
        {
            while (TakeBatch() is { } batch)
            {
                long started = Stopwatch.GetTimestamp();
                Exception? failure = null;
                try
                {
                    Write(batch);
                }
                catch (Exception e)
                {
                    failure = e as LedgerUnavailableException ?? new LedgerUnavailableException($"ledger commit failed: {e.Message}", e);
                }
                int calls = batch.Calls;
                var done = Finish(batch, failure);
                if (done is not null) ThreadPool.UnsafeQueueUserWorkItem(CompleteWaiters, (done, failure), preferLocal: false);
                if (failure is null) BatchCommitted?.Invoke(calls, Stopwatch.GetElapsedTime(started));
            }
        }
        finally
        {
            _writerExited.TrySetResult();
        }
    }

    /// <summary>Waits for work; returns the filled batch (the callers get an empty one), or null once closed and drained.</summary>
    private WriteBatch? TakeBatch()
    {
        lock (_gate)
        {
            while (true)
            {
                if (_failed is not null) TryReload();
                if (_next.Calls > 0) break;
                if (_closing) return null;
                _writerIdle = true;
                Monitor.Wait(_gate, _failed is null ? Timeout.Infinite : 500);
                _writerIdle = false;
            }
            var batch = _next;
            _next = _spare;
            _spare = null!;
            return batch;
        }
    }

    private void Write(WriteBatch batch)
    {
        if (batch.Accounts.Count == 0 && batch.Transfers.Count == 0 && batch.States.Count == 0)
        {
            Exec(_writer, "SELECT 1"); // round trips only (ping, flush): prove the file still answers
            return;
        }
        using var tx = _writer.BeginTransaction(deferred: false);
        foreach (var a in batch.Accounts.Values) _statements.UpsertAccount(a);
        foreach (var t in batch.Transfers)
        {
            _statements.InsertTransfer(t, batch.States.TryGetValue(t.Id, out var s) ? s : null);
        }
        foreach (var (pendingId, state) in batch.States)
        {
            if (batch.Inserted.Contains(pendingId)) continue; // inserted above with its last state
            if (_statements.UpdatePendingState(pendingId, state) != 1) Invariant.Fail($"pending transfer {pendingId:X} missing while changing its state");
        }
        tx.Commit();
    }

    /// <summary>After a commit (or its failure): advances the durable mark and takes the waiters it releases.</summary>
    private List<Waiter>? Finish(WriteBatch batch, Exception? failure)
    {
        lock (_gate)
        {
            List<Waiter>? done = null;
            if (failure is null)
            {
                _durableSeq = batch.Seq;
                while (_waiters.TryPeek(out var w) && w.Seq <= _durableSeq) (done ??= []).Add(_waiters.Dequeue());
            }
            else
            {
                // Memory holds changes the file does not: every waiter fails, later changes are dropped,
                // and memory is reloaded from the file (what a restart would do) before the next call.
                done = [.. _waiters];
                _waiters.Clear();
                _next.Clear();
                _failed = failure;
                TryReload();
            }
            batch.Clear();
            _spare = batch;
            return done;
        }
    }

    private void TryReload()
    {
        try
        {
            LoadState();
            _durableSeq = _appliedSeq;
            _failed = null;
        }
        catch (Exception e)
        {
            _failed = e; // the writer tries again while it waits
        }
    }

    private static void CompleteWaiters((List<Waiter> Done, Exception? Failure) state)
    {
        foreach (var w in state.Done)
        {
            if (state.Failure is null) w.TrySetResult();
            else w.TrySetException(state.Failure);
        }
    }
}
