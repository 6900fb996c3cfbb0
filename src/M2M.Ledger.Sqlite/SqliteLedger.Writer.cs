using System.Diagnostics;
using M2M.Core.Ledger;
using Microsoft.Data.Sqlite;

namespace M2M.Ledger.Sqlite;

/// <summary>
/// The writer thread: takes the batch the callers filled, writes it in one BEGIN IMMEDIATE
/// transaction, and after COMMIT completes every caller that waited for it in one thread-pool
/// work item (their continuations run there, one after the other, instead of one hop each).
/// </summary>
public sealed partial class SqliteLedger
{
    /// <summary>Changes applied since the last batch was taken, in apply order (last write wins per row).</summary>
    private sealed class WriteBatch : LedgerChanges
    {
        /// <summary>Calls recorded (changes, or round trips that only need the writer to answer).</summary>
        public int Calls { get; set; }
        /// <summary>The last call's sequence number: committing the batch makes everything up to it durable.</summary>
        public long Seq { get; set; }
        /// <summary>Other tables' rows to write in this batch's commit (<see cref="CreateTransfersWithAsync"/>; rare).</summary>
        public List<Action<SqliteConnection, SqliteTransaction>> Rows { get; } = [];

        public override void Clear()
        {
            base.Clear();
            Rows.Clear();
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
    /// <summary>Every call up to here is in the tables (projected): its transfers may leave memory.</summary>
    private long _projectedSeq;
    private bool _writerIdle;
    /// <summary>The writer holds a batch in <see cref="TakeBatch"/> (see <see cref="HoldFor"/>).</summary>
    private bool _writerHolding;
    private bool _closing;
    /// <summary>Set after a failed commit until memory is reloaded from the file; calls fail meanwhile.</summary>
    private Exception? _failed;
    private readonly WriterStatements _statements;

    // The writer thread's own state (also set by LoadState, which runs on it or before it starts).
    /// <summary>Committed to the log, not yet in the tables: the rows up to <see cref="_lastLogRow"/>.</summary>
    private readonly LedgerChanges _unprojected = new();
    private long _unprojectedSeq;
    private long _lastLogRow;
    private byte[] _logBuffer = new byte[16 * 1024];

    /// <summary>Under the gate: a waiter for everything applied so far, or null when it is all committed (or may stay in flight).</summary>
    private Waiter? WaitFor(bool mayReturnBeforeCommit)
    {
        if (_appliedSeq == _durableSeq) return null;
        if (mayReturnBeforeCommit && _appliedSeq - _durableSeq <= MaxUnflushedCalls) return null;
        var w = new Waiter(_appliedSeq);
        _waiters.Enqueue(w);
        WakeWriter();
        return w;
    }

    /// <summary>Under the gate: wakes the writer when it sleeps with nothing to do, or holds a batch that is now due.</summary>
    private void WakeWriter()
    {
        if (_writerIdle || (_writerHolding && _waiters.Count > 0 && (_coalesceMs <= 0 || _next.Calls >= CoalesceCalls))) Monitor.Pulse(_gate);
    }

    /// <summary>
    /// Under the gate: how many ms the writer should still hold the batch it has (0: commit now).
    /// A batch nobody waits for (reserves, voids) waits up to <see cref="_holdMs"/> for a caller
    /// that does; a small batch a caller waits for, up to <see cref="_coalesceMs"/>, both counted
    /// from when the batch got its first call. Never holds when closing or recovering.
    /// </summary>
    private int HoldFor(long since)
    {
        if (_closing || _failed is not null) return 0;
        int window = _waiters.Count == 0 ? _holdMs : _next.Calls < CoalesceCalls ? _coalesceMs : 0;
        if (window <= 0) return 0;
        return (int)Math.Ceiling(window - Stopwatch.GetElapsedTime(since).TotalMilliseconds);
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
            while (true)
            {
                var batch = TakeBatch(out bool idle);
                if (batch is null)
                {
                    if (!idle) break; // closed, and everything applied is committed
                    Project(checkpoint: true); // idle: the file settles (projected and checkpointed) until the next call
                    continue;
                }
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
                if (failure is null && _logMode)
                {
                    _unprojected.Merge(batch);
                    _unprojectedSeq = batch.Seq;
                }
                var done = Finish(batch, failure);
                if (failure is null) BatchCommitted?.Invoke(calls, Stopwatch.GetElapsedTime(started)); // before its callers resume
                if (done is not null) ThreadPool.UnsafeQueueUserWorkItem(CompleteWaiters, (done, failure), preferLocal: false);
                if (UnprojectedRecords >= _projectEvery) Project(checkpoint: false);
            }
            Project(checkpoint: false); // a clean stop leaves the log empty: the tables are the whole ledger again
        }
        finally
        {
            _writerExited.TrySetResult();
        }
    }

    /// <summary>
    /// Waits for work; returns the filled batch (the callers get an empty one), or null once closed
    /// and drained, or null with <paramref name="idle"/> when nothing came for
    /// <see cref="_projectWhenIdle"/> ms while the log holds rows the tables lack.
    /// </summary>
    private WriteBatch? TakeBatch(out bool idle)
    {
        idle = false;
        lock (_gate)
        {
            bool quiet = false;
            long since = 0;
            while (true)
            {
                if (_failed is not null) TryReload();
                if (_next.Calls > 0)
                {
                    if (since == 0) since = Stopwatch.GetTimestamp();
                    int hold = HoldFor(since);
                    if (hold <= 0) break;
                    _writerHolding = true;
                    Monitor.Wait(_gate, hold);
                    _writerHolding = false;
                    continue;
                }
                since = 0;
                if (_closing) return null;
                bool unprojected = (_lastLogRow > 0 || _projectedSinceCheckpoint > 0) && _failed is null; // or a checkpoint still owed
                if (unprojected && quiet)
                {
                    idle = true;
                    return null;
                }
                _writerIdle = true;
                bool woken = Monitor.Wait(_gate, _failed is not null ? 500 : unprojected ? _projectWhenIdle : Timeout.Infinite);
                _writerIdle = false;
                quiet = !woken;
            }
            var batch = _next;
            _next = _spare;
            _spare = null!;
            return batch;
        }
    }

    /// <summary>
    /// One transaction per batch. With the log (schema 3+): one <c>ledger_log</c> row of compact
    /// records, the tables follow later (<see cref="Project"/>). Without it (a file or a release
    /// simulated below schema 3): the rows themselves, as before the log.
    /// </summary>
    private void Write(WriteBatch batch)
    {
        if (_syncRelaxed) RestoreFullSync(); // a batch is only ever committed with FULL (it throws, failing the batch, if it cannot be)
        if (batch.IsEmpty && batch.Rows.Count == 0)
        {
            Exec(_writer, "SELECT 1"); // round trips only (ping, flush): prove the file still answers
            return;
        }
        if (batch.Rows.Count == 0)
        {
            // The common case: BEGIN and COMMIT as statements prepared once (BeginTransaction prepares both per call).
            _statements.Begin();
            try
            {
                WriteChanges(batch);
                _statements.Commit();
            }
            catch
            {
                _statements.RollbackIfOpen();
                throw;
            }
            return;
        }
        using var tx = _writer.BeginTransaction(deferred: false);
        WriteChanges(batch);
        foreach (var rows in batch.Rows) rows(_writer, tx); // a throw fails the whole commit: rows and transfers land together or not at all
        tx.Commit();
    }

    /// <summary>Log records (transfers and state changes) committed but not yet in the tables (writer thread only).</summary>
    private int UnprojectedRecords => _unprojected.Transfers.Count + _unprojected.States.Count;

    /// <summary>Log records projected since the last checkpoint request (writer thread only).</summary>
    private int _projectedSinceCheckpoint;

    private void RequestCheckpoint(bool force)
    {
        if (_projectedSinceCheckpoint == 0 || (!force && _projectedSinceCheckpoint < CheckpointEvery)) return;
        _projectedSinceCheckpoint = 0;
        _checkpointer?.Request();
    }

    /// <summary>Set while the writer connection may not be at synchronous=FULL (around a projection).</summary>
    private bool _syncRelaxed;

    private void RestoreFullSync()
    {
        Exec(_writer, "PRAGMA synchronous=FULL");
        _syncRelaxed = false;
    }

    private void WriteChanges(WriteBatch batch)
    {
        if (_logMode)
        {
            int max = LedgerLog.MaxSize(batch);
            if (_logBuffer.Length < max) _logBuffer = new byte[Math.Max(max, _logBuffer.Length * 2)];
            int n = LedgerLog.Encode(batch, _logBuffer);
            _lastLogRow = _statements.AppendLog(_logBuffer.AsSpan(0, n));
        }
        else
        {
            WriteTables(batch);
        }
    }

    private void WriteTables(LedgerChanges changes)
    {
        foreach (var a in changes.Accounts.Values) _statements.UpsertAccount(a);
        _statements.InsertTransfers(changes.Transfers, changes.States);
        foreach (var (pendingId, state) in changes.States)
        {
            if (changes.Inserted.Contains(pendingId)) continue; // inserted above with its last state
            if (_statements.UpdatePendingState(pendingId, state) != 1) Invariant.Fail($"pending transfer {pendingId:X} missing while changing its state");
        }
    }

    /// <summary>
    /// Brings the tables up to date with the log and deletes the rows it applied, in one
    /// transaction (a crash leaves either the rows or their effect, never both). Runs on the
    /// writer between batches: when the log holds <see cref="_projectEvery"/> records, after
    /// <see cref="_projectWhenIdle"/> ms without calls (<paramref name="checkpoint"/>: then a WAL
    /// checkpoint follows whatever the count), and at a clean stop.
    /// </summary>
    private void Project(bool checkpoint)
    {
        if (_lastLogRow == 0)
        {
            if (checkpoint) RequestCheckpoint(force: true);
            return;
        }
        long seq = _unprojectedSeq;
        int records = UnprojectedRecords;
        try
        {
            // Without its own fsync: WAL commits reach the disk in order, so the next batch's commit (FULL) syncs
            // this one too, and a power cut before that loses the projection and the log rows' deletion together
            // (the rows are replayed, as after any crash). Callers wait for batch commits, never for a projection.
            _syncRelaxed = true;
            Exec(_writer, "PRAGMA synchronous=NORMAL");
            _statements.Begin();
            try
            {
                WriteTables(_unprojected);
                _statements.DeleteLog(_lastLogRow);
                _statements.Commit();
            }
            catch
            {
                _statements.RollbackIfOpen();
                throw;
            }
            finally
            {
                RestoreFullSync();
            }
        }
        catch (Exception e)
        {
            // The log still holds everything: fail like a commit (memory reloaded from the file), the next attempt retries.
            var failure = e as LedgerUnavailableException ?? new LedgerUnavailableException($"ledger projection failed: {e.Message}", e);
            List<Waiter> done;
            lock (_gate) done = FailLocked(failure);
            if (done.Count > 0) ThreadPool.UnsafeQueueUserWorkItem(CompleteWaiters, (done, (Exception?)failure), preferLocal: false);
            return;
        }
        _unprojected.Clear();
        _lastLogRow = 0;
        // A checkpoint per projection rewrote the same hot B-tree pages into the file four times as often and
        // cost 5.2 µs per packet on its thread; one per CheckpointEvery projected records, as the projections were before.
        _projectedSinceCheckpoint += records;
        RequestCheckpoint(checkpoint);
        lock (_gate)
        {
            _projectedSeq = Math.Max(_projectedSeq, seq);
            EvictCommitted();
        }
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
                if (!_logMode) _projectedSeq = batch.Seq;
                while (_waiters.TryPeek(out var w) && w.Seq <= _durableSeq) (done ??= []).Add(_waiters.Dequeue());
            }
            else
            {
                done = FailLocked(failure);
            }
            batch.Clear();
            _spare = batch;
            return done;
        }
    }

    /// <summary>
    /// Under the gate: memory holds changes the file does not, so every waiter fails, later
    /// changes are dropped, and memory is reloaded from the file (what a restart would do) before
    /// the next call.
    /// </summary>
    private List<Waiter> FailLocked(Exception failure)
    {
        List<Waiter> done = [.. _waiters];
        _waiters.Clear();
        _next.Clear();
        _failed = failure;
        TryReload();
        return done;
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
