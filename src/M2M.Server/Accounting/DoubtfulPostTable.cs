using System.Data.Common;
using System.Globalization;
using M2M.Core.Switch;
using M2M.Server.Configuration;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace M2M.Server.Accounting;

/// <summary>
/// The doubtful-post journal in the ledger's own store (issue 15): table <c>doubtful_posts</c> of the SQLite
/// ledger file or of the PostgreSQL ledger database, where every node sees what any node left open. A row is
/// written (and committed) before the T00 goes upstream and marked resolved once the books agree with it.
/// It cannot share the ledger post's transaction: it exists because that post's outcome is unknown (the
/// ledger failed or did not answer). Should the ledger's store refuse the row too, the record goes to
/// doubtful-posts.journal beside the data (the pre-2.1 file, same format) and is imported at the next start,
/// as a file left by an earlier release is: copied in once (by incoming id) and renamed *.imported.
/// </summary>
public sealed partial class DoubtfulPostTable : DoubtfulPostJournalBase, IDisposable
{
    private readonly Func<DbConnection> _connect;
    private readonly string _where;
    private readonly string _spillPath;
    private readonly ILogger _log;
    private readonly HashSet<UInt128> _spilled = [];
    private readonly NpgsqlDataSource? _pg;
    private DoubtfulPostFile? _spill;

    private DoubtfulPostTable(Func<DbConnection> connect, NpgsqlDataSource? pg, string where, string spillPath, ILogger log)
    {
        _connect = connect;
        _pg = pg;
        _where = where;
        _spillPath = spillPath;
        _log = log;
    }

    /// <summary>"sqlite ledger …/ledger.db" or "postgres ledger database": where the rows are.</summary>
    public string Location => _where;

    /// <summary>
    /// The journal in the configured ledger's store, or null when that store has no doubtful_posts table (a test
    /// host on another ledger; the caller keeps the file journal). Imports <paramref name="filePath"/> if present.
    /// </summary>
    public static DoubtfulPostTable? TryOpen(ConnectorSettings settings, string filePath, ILogger log)
    {
        DoubtfulPostTable table;
        if (settings.Ledger.Backend == LedgerBackend.Postgres)
        {
            // A doubtful post is money whose outcome is unknown: its row is durable like the ledger's (synchronous_commit on).
            var pg = ConnectorSettlement.LedgerDatabase(settings, 5, "m2m-doubtful-posts");
            table = new DoubtfulPostTable(() => pg.OpenConnection(), pg, "postgres ledger database", filePath, log);
        }
        else
        {
            string ledger = Path.GetFullPath(settings.Ledger.Path);
            if (!File.Exists(ledger)) return null;
            string cs = new SqliteConnectionStringBuilder { DataSource = ledger, Pooling = false, DefaultTimeout = 5 }.ToString();
            table = new DoubtfulPostTable(() =>
            {
                var c = new SqliteConnection(cs);
                c.Open();
                using var pragma = c.CreateCommand();
                pragma.CommandText = "PRAGMA busy_timeout=5000; PRAGMA synchronous=FULL;";
                pragma.ExecuteNonQuery();
                return c;
            }, null, $"sqlite ledger {ledger}", filePath, log);
        }
        try
        {
            if (!table.TableExists())
            {
                table.Dispose();
                return null;
            }
            table.Load();
            return table;
        }
        catch (DbException e)
        {
            // The ledger opened a moment ago; should its store still refuse us, the file keeps the journal this run.
            table.Dispose();
            LogUnavailable(log, table._where, e.Message, filePath);
            return null;
        }
    }

    private protected override bool Store(DoubtfulPost post)
    {
        try
        {
            Insert(post);
            return true;
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or TimeoutException)
        {
            LogSpilled(post.IncomingId.ToString(CultureInfo.InvariantCulture), _where, e.Message, _spillPath);
            _spilled.Add(post.IncomingId);
            return Spill().TryAppend(post);
        }
    }

    private protected override void StoreResolved(UInt128 incomingId, DoubtfulOutcome outcome)
    {
        if (_spilled.Remove(incomingId)) Spill().Resolved(incomingId, outcome);
        try
        {
            using var c = _connect();
            using var cmd = Command(c, "UPDATE doubtful_posts SET resolved_at = @t, outcome = @o WHERE incoming_id = @id AND resolved_at IS NULL",
                ("@t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()), ("@o", OutcomeName(outcome)), ("@id", incomingId.ToString(CultureInfo.InvariantCulture)));
            cmd.ExecuteNonQuery();
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or TimeoutException)
        {
            // Still open in the store: the next start resolves it again, idempotently.
            LogResolveFailed(incomingId.ToString(CultureInfo.InvariantCulture), _where, e.Message);
        }
    }

    /// <summary>Removes resolved rows (the replay is done with them); a spill file is compacted too.</summary>
    public override void Compact()
    {
        lock (Gate)
        {
            try
            {
                using var c = _connect();
                using var cmd = Command(c, "DELETE FROM doubtful_posts WHERE resolved_at IS NOT NULL");
                int removed = cmd.ExecuteNonQuery();
                LogCompacted(_where, removed, OpenPosts.Count);
            }
            catch (Exception e) when (e is DbException or InvalidOperationException or TimeoutException)
            {
                LogCompactFailed(_where, e.Message);
            }
            if (_spill is not null && File.Exists(_spillPath)) _spill.Compact();
        }
    }

    /// <summary>Reads the open rows; first copies in a journal file (from an earlier release, or spilled while the store refused writes).</summary>
    private void Load()
    {
        lock (Gate)
        {
            ImportFile();
            using var c = _connect();
            using var cmd = Command(c, "SELECT record FROM doubtful_posts WHERE resolved_at IS NULL ORDER BY created_at");
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                if (DoubtfulPostFile.TryParse(r.GetString(0), out var post)) OpenPosts[post.IncomingId] = post;
                else LogCorruptRow(_where, r.GetString(0).Length > 80 ? r.GetString(0)[..80] + "…" : r.GetString(0));
            }
            if (OpenPosts.Count > 0) LogOpenAtStart(OpenPosts.Count, _where);
        }
    }

    private void ImportFile()
    {
        if (!File.Exists(_spillPath)) return;
        var file = DoubtfulPostFile.OpenFile(_spillPath, _log);
        var open = file.Open;
        try
        {
            foreach (var post in open) Insert(post);
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or TimeoutException)
        {
            // Keep the file and its records: they are resolved from memory now, imported next start.
            LogImportFailed(_spillPath, _where, e.Message);
            _spill = file;
            foreach (var post in open)
            {
                OpenPosts[post.IncomingId] = post;
                _spilled.Add(post.IncomingId);
            }
            return;
        }
        string renamed = _spillPath + ".imported";
        File.Move(_spillPath, renamed, overwrite: true);
        LogImported(_spillPath, _where, open.Count, renamed);
    }

    private DoubtfulPostFile Spill() => _spill ??= DoubtfulPostFile.OpenFile(_spillPath, _log);

    private void Insert(DoubtfulPost post)
    {
        using var c = _connect();
        using var cmd = Command(c, "INSERT INTO doubtful_posts (incoming_id, record, created_at) VALUES (@id, @r, @t) ON CONFLICT (incoming_id) DO NOTHING",
            ("@id", post.IncomingId.ToString(CultureInfo.InvariantCulture)), ("@r", DoubtfulPostFile.DoubtfulLine(post).TrimEnd('\n')), ("@t", post.At.ToUnixTimeMilliseconds()));
        cmd.ExecuteNonQuery();
    }

    private bool TableExists()
    {
        using var c = _connect();
        using var cmd = Command(c, _pg is not null
            ? "SELECT to_regclass('doubtful_posts') IS NOT NULL"
            : "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'doubtful_posts'");
        return Convert.ToBoolean(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    private static DbCommand Command(DbConnection c, string sql, params (string Name, object Value)[] args)
    {
        var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (name, value) in args)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = name;
            p.Value = value;
            cmd.Parameters.Add(p);
        }
        return cmd;
    }

    public void Dispose() => _pg?.Dispose();

    [LoggerMessage(EventId = 4108, Level = LogLevel.Error, Message = "Could not write doubtful post {IncomingId} to the {Where}: {Reason}; written to {File} instead (imported at the next start)")]
    private partial void LogSpilled(string incomingId, string where, string reason, string file);

    [LoggerMessage(EventId = 4109, Level = LogLevel.Warning, Message = "Could not mark doubtful post {IncomingId} resolved in the {Where}: {Reason}; the next start resolves it again")]
    private partial void LogResolveFailed(string incomingId, string where, string reason);

    [LoggerMessage(EventId = 4110, Level = LogLevel.Information, Message = "Doubtful-post journal in the {Where} compacted: {Removed} resolved rows removed, {Open} open")]
    private partial void LogCompacted(string where, int removed, int open);

    [LoggerMessage(EventId = 4111, Level = LogLevel.Error, Message = "Could not compact the doubtful-post journal in the {Where}: {Reason}")]
    private partial void LogCompactFailed(string where, string reason);

    [LoggerMessage(EventId = 4112, Level = LogLevel.Warning, Message = "{Count} doubtful posts left open in the {Where}: resolving them")]
    private partial void LogOpenAtStart(int count, string where);

    [LoggerMessage(EventId = 4113, Level = LogLevel.Information, Message = "{File} imported into the {Where}: {Open} open doubtful posts; renamed to {Renamed}")]
    private partial void LogImported(string file, string where, int open, string renamed);

    [LoggerMessage(EventId = 4114, Level = LogLevel.Error, Message = "Could not import {File} into the {Where}: {Reason}; its open records are resolved from the file this run")]
    private partial void LogImportFailed(string file, string where, string reason);

    [LoggerMessage(EventId = 4116, Level = LogLevel.Error, Message = "The doubtful-post journal in the {Where} cannot be read: {Reason}; using {File} this run")]
    private static partial void LogUnavailable(ILogger logger, string where, string reason, string file);

    [LoggerMessage(EventId = 4115, Level = LogLevel.Error, Message = "Doubtful-post journal in the {Where}: a row is corrupt and skipped: {Text}")]
    private partial void LogCorruptRow(string where, string text);
}
