using System.Runtime.CompilerServices;
using System.Threading.Channels;
using M2M.Core.Ledger;
using M2M.Core.Migrations;
using M2M.Migrations;
using Microsoft.Data.Sqlite;
using static M2M.Ledger.Sqlite.SqliteSchema;

namespace M2M.Ledger.Sqlite;

/// <summary>
/// The embedded ledger. One process owns the file (an OS lock on it, <see cref="StoreLock"/>). A single
/// writer task owns the write connection and commits queued work in batches (group commit):
/// one fsync serves every caller in the batch, and each caller's task completes only after
/// COMMIT. WAL with synchronous=FULL: a committed transaction survives power loss; SQLite's
/// own docs say NORMAL may lose the last commits in WAL mode, which a ledger cannot accept.
/// Account rows and open pending transfers are cached by the writer (it is the only writer);
/// the cache is updated only after a successful commit.
/// </summary>
public sealed partial class SqliteLedger : ILedger
{
    /// <summary>Work items taken into one transaction at most: bounds latency of a batch.</summary>
    public const int MaxBatchItems = 512;

    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly StoreLock _lock;
    private readonly SqliteConnection _writer;
    private readonly Channel<WorkItem> _queue = Channel.CreateUnbounded<WorkItem>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writerLoop;
    private readonly Dictionary<UInt128, Account> _accounts = [];
    private readonly Dictionary<UInt128, Transfer> _openPending = [];

    private SqliteLedger(string path, TimeProvider time, StoreLock lockFile, SqliteConnection writer)
    {
        _path = path;
        _time = time;
        _lock = lockFile;
        _writer = writer;
        LoadCache();
        _statements = new WriterStatements(writer);
        _view = new BatchView(this);
        _writerLoop = Task.Run(WriteLoopAsync);
    }

    public string Backend => "sqlite";

    public string Path => _path;

    /// <summary>Called after each commit with the number of work items it carried (for the batch-size metric).</summary>
    public event Action<int, TimeSpan>? BatchCommitted;

    /// <summary>Opens (creating if needed) the ledger file, applies migrations, and loads the cache.</summary>
    public static SqliteLedger Open(string path, TimeProvider? time = null)
    {
        string full = System.IO.Path.GetFullPath(path);
        var lockFile = AcquireLock(full);
        SqliteConnection? writer = null;
        try
        {
            writer = Connect(full, readOnly: false);
            RefuseReadOnly(writer, full);
            Migrate(writer, full);
            return new SqliteLedger(full, time ?? TimeProvider.System, lockFile, writer);
        }
        catch
        {
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

    private void LoadCache()
    {
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
