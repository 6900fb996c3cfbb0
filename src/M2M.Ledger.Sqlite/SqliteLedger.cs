using M2M.Core.Ledger;
using M2M.Core.Migrations;
using M2M.Migrations;
using Microsoft.Data.Sqlite;
using static M2M.Ledger.Sqlite.SqliteSchema;

namespace M2M.Ledger.Sqlite;

/// <summary>
/// The embedded ledger, owned by one process (an OS lock on the file, <see cref="StoreLock"/>, refuses a second one), built the way
/// TigerBeetle builds its state machine: the accounts, the open pending transfers and the recent
/// transfer ids live in memory and are authoritative; a call is validated and applied there, under
/// one lock, on the caller's thread (<see cref="LedgerEngine"/>). Every applied change is appended,
/// in apply order, to the next batch of a dedicated writer thread, which writes whole batches in
/// one transaction (group commit; WAL with synchronous=FULL, so a committed batch survives power
/// loss; SQLite's own docs say NORMAL may lose the last commits in WAL mode).
/// When a call returns (RELIABILITY.md, durability of the reserve): a call made only of pending
/// and void transfers returns as soon as it is applied, before its fsync — a crash before the
/// packet's post loses its Fulfill anyway, and restart voids such reservations. Every other call
/// (posts, plain transfers, accounts, limits, expiry) returns only once everything applied before
/// it is committed: batches are written in apply order, so a post's commit covers the reserve it
/// depends on (one ordered log). If a commit fails, every waiting caller fails and the memory is
/// reloaded from the file, which is then the truth again (what a restart would do).
/// </summary>
public sealed partial class SqliteLedger : ILedger, ISqliteLedgerFile
{
    /// <summary>
    /// Calls applied but not yet committed before even a reserve waits for the writer: the
    /// back-pressure that also bounds a batch (and so its memory and its commit's latency).
    /// </summary>
    public const int MaxUnflushedCalls = 16_384;

    /// <summary>
    /// Log records (transfers and state changes) after which the writer projects them into the tables. A projection
    /// holds the writer (and the posts waiting for its next commit) for its whole length: 4,096 records took 8 ms at
    /// the median and up to 38 ms under load, 1,024 take 2 ms (docs/performance.md, p99).
    /// </summary>
    internal const int DefaultProjectEvery = 1_024;

    /// <summary>Projected log records after which the writer asks <see cref="WalCheckpointer"/> for a checkpoint (and whenever it goes idle).</summary>
    internal const int CheckpointEvery = 4_096;

    /// <summary>The writer's own automatic checkpoint threshold while <see cref="WalCheckpointer"/> runs them (64 MiB of 4 KiB pages).</summary>
    internal const int WriterAutoCheckpointPages = 16_384;

    /// <summary>How long (ms) the writer waits without calls before it projects a shorter log.</summary>
    internal const int DefaultProjectWhenIdle = 100;

    /// <summary>
    /// How long (ms) the writer holds a batch that no caller waits for (reserves and voids only, which
    /// return before their commit): a post that comes meanwhile shares its commit, so a packet costs
    /// one commit (one fsync) instead of two when the load is light. 0: commit at once.
    /// </summary>
    internal const int DefaultHoldMs = 2;

    /// <summary>
    /// How long (ms) the writer holds a batch a caller waits for while it carries fewer than
    /// <see cref="CoalesceCalls"/> calls, so that more posts share one commit. 0: commit at once.
    /// </summary>
    internal const int DefaultCoalesceMs = 0;

    /// <summary>Transfers a projection inserts with one statement (the remainder one by one).</summary>
    internal const int DefaultRowsPerInsert = 16;

    /// <summary>A batch this large is committed at once, whatever the windows above.</summary>
    internal const int CoalesceCalls = 64;

    /// <summary>The first schema version with <c>ledger_log</c>.</summary>
    private const int LogSchemaVersion = 3;

    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly StoreLock _lock;
    private readonly SqliteConnection _writer;
    private readonly SqliteConnection _reader;
    private readonly Thread _writerThread;
    private readonly TaskCompletionSource _writerExited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly bool _logMode;
    private readonly WalCheckpointer? _checkpointer;
    private readonly bool _hasLogTable;
    private readonly int _projectEvery;
    private readonly int _projectWhenIdle;
    private readonly int _holdMs;
    private readonly int _coalesceMs;

    private SqliteLedger(string path, TimeProvider time, StoreLock lockFile, SqliteConnection writer, SqliteConnection reader, int maxRecentIds, int projectEvery, int projectWhenIdle, int holdMs, int coalesceMs)
    {
        _holdMs = holdMs;
        _coalesceMs = coalesceMs;
        _path = path;
        _time = time;
        _lock = lockFile;
        _writer = writer;
        _reader = reader;
        _maxRecent = maxRecentIds;
        _projectEvery = projectEvery;
        _projectWhenIdle = projectWhenIdle;
        _hasLogTable = HasLogTable(writer);
        // A release simulated below schema 3 writes the tables directly, as that release did (it still replays a log it finds).
        _logMode = _hasLogTable && SqliteSchema.Migrations.Latest >= LogSchemaVersion;
        _statements = new WriterStatements(writer, _hasLogTable, M2M.Core.Diagnostics.TestSeams.Current.BenchLedgerRowsPerInsert ?? DefaultRowsPerInsert);
        LoadState();
        _durableSeq = _appliedSeq;
        _lookup = new StoredTransferLookup(reader);
        if (_logMode)
        {
            Exec(writer, $"PRAGMA wal_autocheckpoint={WriterAutoCheckpointPages}");
            _checkpointer = new WalCheckpointer(path);
        }
        _writerThread = new Thread(WriterMain) { IsBackground = true, Name = "m2m-ledger-writer" };
        _writerThread.Start();
    }

    public string Backend => "sqlite";

    public string Path => _path;

    /// <summary>WAL checkpoints run beside the writer so far (0 when the file has no log).</summary>
    internal long CheckpointsRun => _checkpointer?.Runs ?? 0;

    /// <summary>Called after each commit with the number of calls it carried (for the batch-size metric).</summary>
    public event Action<int, TimeSpan>? BatchCommitted;

    /// <summary>Opens (creating if needed) the ledger file, applies migrations, and loads the cache.</summary>
    public static SqliteLedger Open(string path, TimeProvider? time = null) => Open(path, time, DefaultMaxRecentIds);

    internal static SqliteLedger Open(string path, TimeProvider? time, int maxRecentIds, int projectEvery = DefaultProjectEvery, int projectWhenIdle = DefaultProjectWhenIdle,
        int? holdMs = null, int? coalesceMs = null)
    {
        var seams = M2M.Core.Diagnostics.TestSeams.Current;
        string full = System.IO.Path.GetFullPath(path);
        var lockFile = AcquireLock(full);
        SqliteConnection? writer = null, reader = null;
        try
        {
            writer = Connect(full, readOnly: false);
            RefuseReadOnly(writer, full);
            Migrate(writer, full);
            BenchPragmas(writer, seams.BenchLedgerPragmas);
            reader = Connect(full, readOnly: true);
            return new SqliteLedger(full, time ?? TimeProvider.System, lockFile, writer, reader, maxRecentIds, projectEvery, projectWhenIdle,
                holdMs ?? seams.BenchLedgerHoldMs ?? DefaultHoldMs, coalesceMs ?? seams.BenchLedgerCoalesceMs ?? DefaultCoalesceMs);
        }
        catch
        {
            reader?.Dispose();
            writer?.Dispose();
            lockFile.Dispose();
            throw;
        }
    }

    private static StoreLock AcquireLock(string full)
    {
        try
        {
            return StoreLock.Acquire(full);
        }
        catch (StoreLockException e)
        {
            throw new LedgerUnavailableException($"ledger {e.Message}", e);
        }
    }

    /// <summary>
    /// SQLite quietly opens a file it may not write read-only; every transfer would then fail (T00)
    /// after the connector said it was ready. Refuse to start instead.
    /// </summary>
    private static void RefuseReadOnly(SqliteConnection writer, string full)
    {
        if (SQLitePCL.raw.sqlite3_db_readonly(writer.Handle, "main") == 1)
            throw new LedgerUnavailableException($"ledger {full} opened read-only (read-only file or file system): the connector needs to write its ledger; fix the file's and the directory's owner and mode");
    }

    internal static SqliteConnection Connect(string full, bool readOnly)
    {
        var cs = new SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 5,
        }.ToString();
        var c = new SqliteConnection(cs);
        c.Open();
        Exec(c, readOnly ? "PRAGMA busy_timeout=5000;" : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;");
        return c;
    }

    private static readonly string[] BenchPragmaNames = ["wal_autocheckpoint", "cache_size", "mmap_size"];

    /// <summary>Benchmark seam (M2M_BENCH_LEDGER_PRAGMAS): `name=integer` pairs only, anything else is refused.</summary>
    internal static void BenchPragmas(SqliteConnection writer, string? pragmas)
    {
        if (string.IsNullOrWhiteSpace(pragmas)) return;
        foreach (var p in pragmas.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!System.Text.RegularExpressions.Regex.IsMatch(p, "^[a-z_]+=-?[0-9]+$"))
                throw new LedgerUnavailableException($"{M2M.Core.Diagnostics.TestSeams.BenchLedgerPragmasVariable}: '{p}' is not name=integer");
            // Only pragmas that tune speed, never durability (synchronous, journal_mode … are refused).
            string name = p[..p.IndexOf('=', StringComparison.Ordinal)];
            if (!BenchPragmaNames.Contains(name))
                throw new LedgerUnavailableException($"{M2M.Core.Diagnostics.TestSeams.BenchLedgerPragmasVariable}: '{name}' is not one of {string.Join(", ", BenchPragmaNames)}");
            Exec(writer, $"PRAGMA {p}");
        }
    }

    private static void Migrate(SqliteConnection c, string full)
    {
        try
        {
            SqliteMigrator.Apply(c, SqliteSchema.Migrations, full);
        }
        catch (DataSchemaException e)
        {
            throw new LedgerUnavailableException(e.Message, e);
        }
    }

    /// <summary>This release's ledger migrations (for the start-up gate, backups and `ledger` tools).</summary>
    public static MigrationSet Migrations => SqliteSchema.Migrations;

    internal static bool HasLogTable(SqliteConnection c, SqliteTransaction? tx = null)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'ledger_log'";
        return (long)cmd.ExecuteScalar()! > 0;
    }

    /// <summary>
    /// Loads the state every later call is applied to: accounts and open pending transfers from
    /// the tables, then the log rows not yet projected on top (after a crash or a failed
    /// projection). Their transfers stay in memory until the writer has projected them, so an id
    /// is found in memory or in the tables, never only in the log. Reads only: it also runs after
    /// a failed commit, when another connection may hold the write lock.
    /// </summary>
    private void LoadState()
    {
        _accounts.Clear();
        _openPending.Clear();
        _recent.Clear();
        _recentOrder.Clear();
        _unprojected.Clear();
        _lastLogRow = 0;
        // Own ids issued before this point may be in the file (an earlier ledger object in this process): looked up.
        _ownIdCutoff = PeerAccounts.IssuedTransferIds + 1;
        using var tx = _writer.BeginTransaction(deferred: true); // one snapshot of the tables and the log
        using (var cmd = _writer.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = $"SELECT {AccountColumns} FROM accounts";
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                var a = ReadAccount(r);
                _accounts[a.Id] = a;
            }
        }
        using (var cmd = _writer.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = $"SELECT {TransferColumns} FROM transfers WHERE pending_state = 0";
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                var (t, _) = ReadTransfer(r);
                _openPending[t.Id] = t;
            }
        }
        if (_hasLogTable) _lastLogRow = ReadLog(_writer, tx, _unprojected);
        if (_lastLogRow == 0) return;
        long seq = ++_appliedSeq;
        _unprojectedSeq = seq;
        foreach (var a in _unprojected.Accounts.Values) _accounts[a.Id] = a;
        foreach (var t in _unprojected.Transfers)
        {
            PendingState? state = _unprojected.States.TryGetValue(t.Id, out var s) ? s : null;
            if (state == PendingState.Open) _openPending[t.Id] = t;
            Remember(t.Id, new Recent(t, state, seq));
        }
        foreach (var (id, state) in _unprojected.States)
        {
            if (state != PendingState.Open && !_unprojected.Inserted.Contains(id) && _openPending.Remove(id, out var p)) Remember(id, new Recent(p, state, seq));
        }
    }

    /// <summary>Decodes every <c>ledger_log</c> row, in order, into <paramref name="into"/>; returns the last row's key (0: none).</summary>
    internal static long ReadLog(SqliteConnection c, SqliteTransaction? tx, LedgerChanges into)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "SELECT seq, records FROM ledger_log ORDER BY seq";
        using var r = cmd.ExecuteReader();
        long last = 0;
        while (r.Read())
        {
            last = r.GetInt64(0);
            LedgerLog.Decode((byte[])r.GetValue(1), into);
        }
        return last;
    }

    internal static void Exec(SqliteConnection c, string sql, SqliteTransaction? tx = null)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}
