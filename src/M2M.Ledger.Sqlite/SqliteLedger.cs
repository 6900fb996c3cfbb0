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
public sealed partial class SqliteLedger : ILedger
{
    /// <summary>
    /// Calls applied but not yet committed before even a reserve waits for the writer: the
    /// back-pressure that also bounds a batch (and so its memory and its commit's latency).
    /// </summary>
    public const int MaxUnflushedCalls = 16_384;

    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly StoreLock _lock;
    private readonly SqliteConnection _writer;
    private readonly SqliteConnection _reader;
    private readonly Thread _writerThread;
    private readonly TaskCompletionSource _writerExited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private SqliteLedger(string path, TimeProvider time, StoreLock lockFile, SqliteConnection writer, SqliteConnection reader, int maxRecentIds)
    {
        _path = path;
        _time = time;
        _lock = lockFile;
        _writer = writer;
        _reader = reader;
        _maxRecent = maxRecentIds;
        LoadState();
        _statements = new WriterStatements(writer);
        _lookup = new StoredTransferLookup(reader);
        _writerThread = new Thread(WriterMain) { IsBackground = true, Name = "m2m-ledger-writer" };
        _writerThread.Start();
    }

    public string Backend => "sqlite";

    public string Path => _path;

    /// <summary>Called after each commit with the number of calls it carried (for the batch-size metric).</summary>
    public event Action<int, TimeSpan>? BatchCommitted;

    /// <summary>Opens (creating if needed) the ledger file, applies migrations, and loads the cache.</summary>
    public static SqliteLedger Open(string path, TimeProvider? time = null) => Open(path, time, DefaultMaxRecentIds);

    internal static SqliteLedger Open(string path, TimeProvider? time, int maxRecentIds)
    {
        string full = System.IO.Path.GetFullPath(path);
        var lockFile = AcquireLock(full);
        SqliteConnection? writer = null, reader = null;
        try
        {
            writer = Connect(full, readOnly: false);
            RefuseReadOnly(writer, full);
            Migrate(writer, full);
            reader = Connect(full, readOnly: true);
            return new SqliteLedger(full, time ?? TimeProvider.System, lockFile, writer, reader, maxRecentIds);
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

    /// <summary>Loads accounts and open pending transfers: the state every later call is applied to.</summary>
    private void LoadState()
    {
        _accounts.Clear();
        _openPending.Clear();
        _recent.Clear();
        _recentOrder.Clear();
        // Own ids issued before this point may be in the file (an earlier ledger object in this process): looked up.
        _ownIdCutoff = PeerAccounts.IssuedTransferIds + 1;
        using (var cmd = _writer.CreateCommand())
        {
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
            cmd.CommandText = $"SELECT {TransferColumns} FROM transfers WHERE pending_state = 0";
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                var (t, _) = ReadTransfer(r);
                _openPending[t.Id] = t;
            }
        }
    }

    internal static void Exec(SqliteConnection c, string sql, SqliteTransaction? tx = null)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}
