using Microsoft.Data.Sqlite;

namespace M2M.Ledger.Sqlite;

public sealed partial class SqliteLedger
{
    /// <summary>
    /// WAL checkpoints on a connection and thread of their own. SQLite's automatic checkpoint runs inside the commit
    /// that crosses its threshold, so the writer (and every post waiting for that commit) paid 12–23 ms for it a few
    /// times a second under load (docs/performance.md); a PASSIVE checkpoint here runs beside the writer's commits
    /// instead (SQLite lets one checkpointer work on a WAL while one writer appends to it). It copies only frames
    /// already synced (SQLite syncs the WAL before a checkpoint), so it changes nothing about durability. The
    /// writer asks after <see cref="CheckpointEvery"/> projected records and when it goes idle; the writer's own automatic checkpoint
    /// stays on at <see cref="WriterAutoCheckpointPages"/> in case this one falls behind.
    /// </summary>
    private sealed class WalCheckpointer : IDisposable
    {
        private readonly SqliteConnection _connection;
        private readonly Thread _thread;
        private readonly object _gate = new();
        private bool _requested;
        private bool _stopping;

        public WalCheckpointer(string full)
        {
            _connection = Connect(full, readOnly: false);
            _thread = new Thread(Run) { IsBackground = true, Name = "m2m-ledger-checkpoint" };
            _thread.Start();
        }

        private long _runs;

        /// <summary>Checkpoints run so far (for tests).</summary>
        public long Runs => Interlocked.Read(ref _runs);

        /// <summary>Asks for one checkpoint; requests made while one runs are served by the next.</summary>
        public void Request()
        {
            lock (_gate)
            {
                _requested = true;
                Monitor.Pulse(_gate);
            }
        }

        private void Run()
        {
            while (true)
            {
                lock (_gate)
                {
                    while (!_requested && !_stopping) Monitor.Wait(_gate);
                    if (_stopping) return;
                    _requested = false;
                }
                try
                {
                    Exec(_connection, "PRAGMA wal_checkpoint(PASSIVE)");
                    Interlocked.Increment(ref _runs);
                }
                catch (SqliteException)
                {
                    // A checkpoint that cannot run now is retried at the next request; the writer's own threshold bounds the WAL meanwhile.
                }
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _stopping = true;
                Monitor.Pulse(_gate);
            }
            _thread.Join();
            _connection.Dispose();
        }
    }
}
