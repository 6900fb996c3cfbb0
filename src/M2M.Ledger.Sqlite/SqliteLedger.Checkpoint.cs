using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace M2M.Ledger.Sqlite;

public sealed partial class SqliteLedger
{
    /// <summary>Rows written since the last wake-up after which the writer wakes the checkpointer (≈ WAL pages).</summary>
    private const int CheckpointAfterRows = 1000;

    /// <summary>WAL size (pages) above which the writer itself checkpoints once between two batches.</summary>
    private const long WalPagesCap = 20_000;

    private static readonly TimeSpan CheckpointInterval = TimeSpan.FromSeconds(1);

    private readonly Channel<bool> _checkpointWake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _checkpointStop = new();
    private Task _checkpointLoop = Task.CompletedTask;
    private int _rowsSinceWake;
    private int _checkpointerStopped;
    private volatile bool _writerCheckpointRequested;

    /// <summary>PASSIVE checkpoints run by the background checkpointer (for tests and diagnostics).</summary>
    internal long BackgroundCheckpoints { get; private set; }

    /// <summary>
    /// WAL checkpoints are off the commit path: the writer runs with wal_autocheckpoint=0 (so a
    /// COMMIT never copies pages back and pays the checkpoint's fsyncs) and this loop, on its own
    /// connection, runs PASSIVE checkpoints every second or when the writer has written ~1000 rows.
    /// PASSIVE never blocks the writer or readers. Under unbroken load the WAL cannot restart
    /// while the writer keeps appending, so past <see cref="WalPagesCap"/> pages the writer is
    /// asked to checkpoint once itself between batches (after its callers completed).
    /// </summary>
    private void StartCheckpointer()
    {
        SqliteLedger.Exec(_writer, "PRAGMA wal_autocheckpoint=0;");
        var connection = Connect(_path, readOnly: false);
        _checkpointLoop = Task.Run(() => CheckpointLoopAsync(connection));
    }

    private async Task CheckpointLoopAsync(SqliteConnection connection)
    {
        using (connection)
        {
            var ct = _checkpointStop.Token;
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    timeout.CancelAfter(CheckpointInterval);
                    await _checkpointWake.Reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false);
                    _checkpointWake.Reader.TryRead(out _);
                }
                catch (OperationCanceledException)
                {
                    if (ct.IsCancellationRequested) break;
                }
                try
                {
                    long walPages = Checkpoint(connection, "PASSIVE");
                    BackgroundCheckpoints++;
                    if (walPages > WalPagesCap) _writerCheckpointRequested = true;
                }
                catch (SqliteException)
                {
                    // A failed checkpoint loses nothing (committed pages stay in the WAL); the next one retries.
                }
            }
        }
    }

    /// <summary>Runs a checkpoint in the given mode; returns the WAL size in pages.</summary>
    private static long Checkpoint(SqliteConnection c, string mode)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"PRAGMA wal_checkpoint({mode})";
        using var r = cmd.ExecuteReader();
        return r.Read() ? r.GetInt64(1) : 0;
    }

    /// <summary>Called by the writer after a committed batch (its callers already completed).</summary>
    private void AfterCommit(int rowsWritten)
    {
        _rowsSinceWake += rowsWritten;
        if (_rowsSinceWake >= CheckpointAfterRows)
        {
            _rowsSinceWake = 0;
            _checkpointWake.Writer.TryWrite(true);
        }
        if (_writerCheckpointRequested)
        {
            _writerCheckpointRequested = false;
            // No other writer now, so the WAL is fully copied and the next transaction restarts it.
            try { Checkpoint(_writer, "PASSIVE"); }
            catch (SqliteException) { /* retried on the next request */ }
        }
    }

    /// <summary>Stops the checkpointer (bounded) before the writer connection closes.</summary>
    private async Task StopCheckpointerAsync()
    {
        if (Interlocked.Exchange(ref _checkpointerStopped, 1) == 1) return; // DisposeAsync may run twice
        _checkpointStop.Cancel();
        try
        {
            await _checkpointLoop.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A checkpoint stuck in I/O: the writer closes anyway; SQLite finishes it on the next open.
        }
        // Clean shutdown: fold the WAL into the database file and truncate it; no waiting for
        // readers (busy_timeout 0): if one holds the WAL it stays, and the next open uses it.
        try
        {
            SqliteLedger.Exec(_writer, "PRAGMA busy_timeout=0;");
            Checkpoint(_writer, "TRUNCATE");
        }
        catch (SqliteException) { /* a reader holds the WAL: it stays, nothing is lost */ }
    }
}
