using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace M2M.Server.Explorer;

/// <summary>
/// The Explorer's event store: a SQLite file beside the ledger (explorer.db, owner-only), so the
/// history survives a restart. Written in batches by the feed's pump (never by the packet path),
/// read by HTTP requests. Retention: events older than <c>retention</c> are never returned and are
/// deleted on the next write; at most <c>maxEvents</c> are kept (the oldest go first). Per-peer
/// balance samples live in the same file under the same retention. The books are the ledger: this
/// file is a window for operators and may be deleted while the connector is stopped.
/// </summary>
public sealed class ExplorerStore : IDisposable
{
    public const string FileName = "explorer.db";
    public const int MaxPageSize = 1000;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly SqliteConnection _db;
    private readonly Lock _lock = new();
    private readonly int _maxEvents;
    private readonly TimeSpan _retention;
    private readonly TimeProvider _time;

    /// <summary>Opens (or creates) the file at <paramref name="path"/>; null: a private in-memory database (lost on restart).</summary>
    public ExplorerStore(string? path, int maxEvents, TimeSpan retention, TimeProvider time)
    {
        _maxEvents = Math.Max(1, maxEvents);
        _retention = retention;
        _time = time;
        Path = path is null ? null : System.IO.Path.GetFullPath(path);
        if (Path is not null)
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
            // Created 0600 before SQLite opens it: SQLite gives the -wal and -shm files the database file's mode.
            if (!OperatingSystem.IsWindows() && !File.Exists(Path))
                new FileStream(Path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }).Dispose();
        }
        _db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path ?? ":memory:", Pooling = false }.ToString());
        _db.Open();
        try
        {
            // synchronous=NORMAL: a power cut may lose the last batch of a window onto the books, never the books.
            Execute("""
                PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;
                CREATE TABLE IF NOT EXISTS events (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, type TEXT NOT NULL,
                    peer_in TEXT, peer_out TEXT, peer TEXT, packet_id TEXT, body TEXT NOT NULL);
                CREATE INDEX IF NOT EXISTS events_time ON events (time);
                CREATE INDEX IF NOT EXISTS events_type ON events (type, seq);
                CREATE INDEX IF NOT EXISTS events_packet ON events (packet_id);
                CREATE TABLE IF NOT EXISTS balance_samples (
                    time INTEGER NOT NULL, peer TEXT NOT NULL, balance TEXT NOT NULL, PRIMARY KEY (peer, time));
                CREATE INDEX IF NOT EXISTS balance_samples_time ON balance_samples (time);
                CREATE TABLE IF NOT EXISTS packet_seconds (
                    second INTEGER NOT NULL, peer_in TEXT NOT NULL, peer_out TEXT NOT NULL,
                    fulfilled INTEGER NOT NULL, rejected INTEGER NOT NULL, stored INTEGER NOT NULL, latency BLOB NOT NULL);
                CREATE INDEX IF NOT EXISTS packet_seconds_second ON packet_seconds (second);
                """);
            if (!OperatingSystem.IsWindows() && Path is not null)
            {
                foreach (string f in new[] { Path, Path + "-wal", Path + "-shm" }.Where(File.Exists))
                    File.SetUnixFileMode(f, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }
        catch
        {
            _db.Dispose();
            throw;
        }
    }

    /// <summary>The file, or null for an in-memory store.</summary>
    public string? Path { get; }

    private long Oldest => (_time.GetUtcNow() - _retention).ToUnixTimeMilliseconds();

    public int Count
    {
        get
        {
            lock (_lock) return Convert.ToInt32(Scalar("SELECT COUNT(*) FROM events WHERE time >= $oldest", ("$oldest", Oldest)), CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Stores one event and returns it with its sequence number.</summary>
    public ExplorerEvent Append(ExplorerEvent e) => Append([e])[0];

    /// <summary>Stores the events in one transaction (sequence numbers in order), then applies retention and the cap.</summary>
    public IReadOnlyList<ExplorerEvent> Append(IReadOnlyList<ExplorerEvent> batch) => Append(batch, []);

    /// <summary>
    /// Stores the events and the per-second packet counts in one transaction (sequence numbers in order), then applies retention and
    /// the cap. A second may be written in several parts (a late packet): readers add them up.
    /// </summary>
    public IReadOnlyList<ExplorerEvent> Append(IReadOnlyList<ExplorerEvent> batch, IReadOnlyList<PacketSecond> seconds)
    {
        var stored = new ExplorerEvent[batch.Count];
        lock (_lock)
        {
            using var tx = _db.BeginTransaction();
            foreach (var s in seconds)
            {
                Execute("INSERT INTO packet_seconds (second, peer_in, peer_out, fulfilled, rejected, stored, latency) VALUES ($s, $in, $out, $f, $r, $st, $l)", tx,
                    ("$s", s.Second), ("$in", s.PeerIn), ("$out", s.PeerOut), ("$f", s.Fulfilled), ("$r", s.Rejected), ("$st", s.Stored), ("$l", LatencyHistogram.Encode(s.Latency)));
            }
            using var insert = _db.CreateCommand();
            insert.Transaction = tx;
            insert.CommandText = "INSERT INTO events (time, type, peer_in, peer_out, peer, packet_id, body) VALUES ($time, $type, $in, $out, $peer, $packet, $body) RETURNING seq";
            var p = new[] { "$time", "$type", "$in", "$out", "$peer", "$packet", "$body" }.Select(n => insert.Parameters.Add(n, SqliteType.Text)).ToArray();
            p[0].SqliteType = SqliteType.Integer;
            for (int i = 0; i < batch.Count; i++)
            {
                var e = batch[i] with { Seq = 0 };
                p[0].Value = e.Time.ToUnixTimeMilliseconds();
                p[1].Value = e.Type;
                p[2].Value = (object?)e.PeerIn ?? DBNull.Value;
                p[3].Value = (object?)e.PeerOut ?? DBNull.Value;
                p[4].Value = (object?)e.Peer ?? DBNull.Value;
                p[5].Value = (object?)e.PacketId?.ToLowerInvariant() ?? DBNull.Value;
                p[6].Value = JsonSerializer.Serialize(e, Json);
                stored[i] = e with { Seq = (long)insert.ExecuteScalar()! };
            }
            Prune(tx);
            tx.Commit();
        }
        return stored;
    }

    /// <summary>Deletes what retention and the cap no longer allow (also called by every write).</summary>
    public void Prune()
    {
        lock (_lock)
        {
            using var tx = _db.BeginTransaction();
            Prune(tx);
            tx.Commit();
        }
    }

    private void Prune(SqliteTransaction tx)
    {
        long oldest = Oldest;
        Execute("DELETE FROM events WHERE time < $oldest", tx, ("$oldest", oldest));
        // Sequence numbers are assigned in order, so the newest maxEvents are the ones above max(seq) - maxEvents.
        Execute("DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - $max", tx, ("$max", _maxEvents));
        Execute("DELETE FROM balance_samples WHERE time < $oldest", tx, ("$oldest", oldest));
        Execute("DELETE FROM packet_seconds WHERE second < $oldest", tx, ("$oldest", oldest / 1000));
    }

    /// <summary>
    /// The per-second packet counts from <paramref name="fromSecond"/> (inclusive) to <paramref name="toSecond"/> (exclusive), Unix
    /// seconds, inside the retention, one per second and pair of peers, oldest first; <paramref name="peer"/>: only pairs it is in.
    /// </summary>
    public IReadOnlyList<PacketSecond> Seconds(long fromSecond, long toSecond, string? peer)
    {
        const string Sql = """
            SELECT second, peer_in, peer_out, fulfilled, rejected, stored, latency FROM packet_seconds
            WHERE second >= $from AND second < $to AND ($peer IS NULL OR peer_in = $peer OR peer_out = $peer)
            ORDER BY second, peer_in, peer_out
            """;
        var list = new List<PacketSecond>();
        lock (_lock)
        {
            using var cmd = Command(Sql, null, ("$from", Math.Max(fromSecond, Oldest / 1000)), ("$to", toSecond), ("$peer", (object?)peer ?? DBNull.Value));
            using var reader = cmd.ExecuteReader();
            while (reader.Read())
            {
                var row = new PacketSecond(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5),
                    new int[LatencyHistogram.Buckets]);
                // Parts of the same second and pair (written before and after a late packet) are added up.
                if (list.Count > 0 && list[^1] is var last && (last.Second, last.PeerIn, last.PeerOut) == (row.Second, row.PeerIn, row.PeerOut))
                {
                    row = last with { Fulfilled = last.Fulfilled + row.Fulfilled, Rejected = last.Rejected + row.Rejected, Stored = last.Stored + row.Stored, Latency = last.Latency };
                    list[^1] = row;
                }
                else list.Add(row);
                LatencyHistogram.Decode((byte[])reader.GetValue(6), row.Latency);
            }
        }
        return list;
    }

    public ExplorerPage Query(ExplorerQuery q)
    {
        int limit = Math.Clamp(q.Limit, 1, MaxPageSize);
        var sql = new System.Text.StringBuilder("SELECT seq, body FROM events WHERE time >= $oldest");
        var args = new List<(string, object)> { ("$oldest", Oldest) };
        if (q.Type is not null)
        {
            var types = q.Type.Split(',');
            sql.Append(" AND type IN (").AppendJoin(", ", types.Select((_, i) => "$type" + i)).Append(')');
            args.AddRange(types.Select((t, i) => ("$type" + i, (object)t)));
        }
        if (q.Peer is not null) Where("(peer_in = $peer OR peer_out = $peer OR peer = $peer)", ("$peer", q.Peer));
        if (q.PacketId is not null) Where("packet_id = $packet", ("$packet", q.PacketId.ToLowerInvariant()));
        if (q.From is { } from) Where("time >= $from", ("$from", from.ToUnixTimeMilliseconds()));
        if (q.To is { } to) Where("time < $to", ("$to", to.ToUnixTimeMilliseconds()));
        if (q.Before is { } before) Where("seq < $before", ("$before", before));
        sql.Append(" ORDER BY seq DESC LIMIT $limit");
        args.Add(("$limit", limit + 1));
        var page = new List<ExplorerEvent>(Math.Min(limit + 1, 128));
        lock (_lock)
        {
            using var cmd = Command(sql.ToString(), null, [.. args]);
            using var reader = cmd.ExecuteReader();
            while (reader.Read())
                page.Add(JsonSerializer.Deserialize<ExplorerEvent>(reader.GetString(1), Json)! with { Seq = reader.GetInt64(0) });
        }
        if (page.Count <= limit) return new ExplorerPage(page, null);
        page.RemoveAt(limit);
        return new ExplorerPage(page, page[^1].Seq);

        void Where(string clause, (string, object) arg)
        {
            sql.Append(" AND ").Append(clause);
            args.Add(arg);
        }
    }

    /// <summary>One balance reading per peer at <paramref name="time"/> (the sampler's; a repeat of the same instant is ignored).</summary>
    public void AppendSamples(DateTimeOffset time, IReadOnlyList<(string Peer, string Balance)> samples)
    {
        lock (_lock)
        {
            using var tx = _db.BeginTransaction();
            foreach (var (peer, balance) in samples)
                Execute("INSERT INTO balance_samples (time, peer, balance) VALUES ($t, $p, $b) ON CONFLICT DO NOTHING", tx,
                    ("$t", time.ToUnixTimeMilliseconds()), ("$p", peer), ("$b", balance));
            Prune(tx);
            tx.Commit();
        }
    }

    /// <summary>Balance samples inside the retention, oldest first, the newest <paramref name="limit"/> per peer.</summary>
    public IReadOnlyList<BalanceSample> History(string? peer, int limit)
    {
        const string Sql = """
            SELECT time, peer, balance FROM (
                SELECT time, peer, balance, ROW_NUMBER() OVER (PARTITION BY peer ORDER BY time DESC) AS n
                FROM balance_samples WHERE time >= $oldest AND ($peer IS NULL OR peer = $peer))
            WHERE n <= $limit ORDER BY peer, time
            """;
        var list = new List<BalanceSample>();
        lock (_lock)
        {
            using var cmd = Command(Sql, null, ("$oldest", Oldest), ("$peer", (object?)peer ?? DBNull.Value), ("$limit", Math.Clamp(limit, 1, MaxPageSize)));
            using var reader = cmd.ExecuteReader();
            while (reader.Read())
                list.Add(new BalanceSample(DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(0)), reader.GetString(1), reader.GetString(2)));
        }
        return list;
    }

    private void Execute(string sql) => Execute(sql, null);

    private void Execute(string sql, SqliteTransaction? tx, params (string Name, object Value)[] args)
    {
        using var cmd = Command(sql, tx, args);
        cmd.ExecuteNonQuery();
    }

    private object? Scalar(string sql, params (string Name, object Value)[] args)
    {
        using var cmd = Command(sql, null, args);
        return cmd.ExecuteScalar();
    }

    private SqliteCommand Command(string sql, SqliteTransaction? tx, params (string Name, object Value)[] args)
    {
        var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        foreach (var (name, value) in args) cmd.Parameters.AddWithValue(name, value);
        return cmd;
    }

    public void Dispose()
    {
        lock (_lock) _db.Dispose();
    }
}

/// <summary>One peer's posted balance at one instant, as a string (the ledger's balances are 128-bit).</summary>
public sealed record BalanceSample(DateTimeOffset Time, string Peer, string Balance);
