using System.Globalization;
using M2M.Core.Ledger;
using M2M.Core.Migrations;
using M2M.Migrations;
using Microsoft.Data.Sqlite;

namespace M2M.Settlement.Coordination;

/// <summary>
/// Durable settlement records on SQLite (WAL, synchronous=FULL). Every state change is committed
/// before the coordinator acts on it, so a restart resumes from here. At most one open settlement
/// per peer is enforced by a partial unique index. One process owns the SQLite ledger, so the
/// per-peer lock of <see cref="CreateAsync"/> is a process-wide gate and the lease is always ours.
/// Since 2.1 the tables are in the ledger's own file (<see cref="OpenInLedger"/>, ledger migration 0005):
/// a new record is written in the ledger writer's commit that also reserves its amount, so the intent
/// and its reservation land together or not at all. The later state changes are single rows, a few per
/// settlement, written on this store's own connection (busy timeout), as the doubtful-post journal does.
/// <see cref="Open"/> is the pre-2.1 settlements.db (imported on first start) and stores beside other ledgers.
/// </summary>
public sealed class SettlementStore : ISettlementStore
{
    /// <summary>The numbered migrations in Migrations/*.sql (embedded).</summary>
    public static readonly MigrationSet Migrations = MigrationSet.FromResources("settlements", typeof(SettlementStore).Assembly, "m2m.migrations.settlements.");

    /// <summary>The tables <see cref="ImportFile"/> copies (the whole settlements.db layout: records, RFC 38 incoming, EVM state).</summary>
    private static readonly string[] Tables = ["settlements", "incoming_settlements", "settlement_leftovers", "evm_channels", "evm_settlement_claims", "evm_claims"];

    private readonly SqliteConnection _db;
    private readonly ISqliteLedgerFile? _ledger;
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _create = new(1, 1);

    private SettlementStore(SqliteConnection db, ISqliteLedgerFile? ledger)
    {
        _db = db;
        _ledger = ledger;
    }

    /// <summary>A settlements.db file of its own (pre-2.1 layout; beside a ledger that cannot carry the tables).</summary>
    public static SettlementStore Open(string path)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = full, Pooling = false }.ToString());
        db.Open();
        try
        {
            Exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;");
            SqliteMigrator.Apply(db, Migrations, full);
        }
        catch
        {
            db.Dispose();
            throw;
        }
        return new SettlementStore(db, null);
    }

    /// <summary>The tables in the SQLite ledger's file (its migration 0005 created them); new records commit with their reservation.</summary>
    public static SettlementStore OpenInLedger(ISqliteLedgerFile ledger) => new(OpenLedgerConnection(ledger.Path), ledger);

    /// <summary>A connection of settlement code on the ledger file: waits for the ledger's writer rather than failing (rare, short writes).</summary>
    public static SqliteConnection OpenLedgerConnection(string ledgerPath)
    {
        var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = ledgerPath, Mode = SqliteOpenMode.ReadWrite, Pooling = false, DefaultTimeout = 5 }.ToString());
        db.Open();
        try
        {
            Exec(db, "PRAGMA busy_timeout=5000; PRAGMA synchronous=FULL;");
            if (!HasSettlementTables(db)) throw new InvalidOperationException($"ledger {ledgerPath} has no settlement tables (ledger schema older than 5)");
        }
        catch
        {
            db.Dispose();
            throw;
        }
        return db;
    }

    /// <summary>Whether the ledger file has the settlement tables (ledger schema 5+; a release simulated below it has not).</summary>
    public static bool LedgerHasTables(string ledgerPath)
    {
        using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = ledgerPath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        db.Open();
        return HasSettlementTables(db);
    }

    private static bool HasSettlementTables(SqliteConnection db)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'settlements'";
        return (long)cmd.ExecuteScalar()! > 0;
    }

    /// <summary>True when new records are committed with their ledger reservation (the tables are in the ledger file).</summary>
    public bool InLedger => _ledger is not null;

    public string Backend => "sqlite";

    public async Task<(CreateOutcome Outcome, SettlementRecord? Record)> CreateAsync(string peerId, DateTimeOffset now, TimeSpan minInterval,
        Func<CancellationToken, Task<SettlementRecord?>> build, Func<SettlementRecord, Transfer>? reservation, CancellationToken ct)
    {
        await _create.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (OpenFor(peerId) is { } open) return (CreateOutcome.AlreadyOpen, open);
            if (minInterval > TimeSpan.Zero && List(peerId: peerId).LastOrDefault() is { } last && now - last.CreatedAt < minInterval) return (CreateOutcome.TooSoon, null);
            var record = await build(ct).ConfigureAwait(false);
            if (record is null) return (CreateOutcome.Nothing, null);
            if (_ledger is not null && reservation is not null)
            {
                // No open record for the peer (checked above, under the gate every creation takes): the insert cannot refuse.
                var reserved = await _ledger.CreateTransfersWithAsync([reservation(record)], (c, tx) => Write(c, tx, record, insert: true), ct).ConfigureAwait(false);
                if (reserved[0].IsApplied()) return (CreateOutcome.Created, record);
                // The ledger refused the reservation: the record alone, and the coordinator's reserve step reports why (as before 2.1).
            }
            var stored = CreateOrGetOpen(record);
            return (stored.Id == record.Id ? CreateOutcome.Created : CreateOutcome.AlreadyOpen, stored);
        }
        finally
        {
            _create.Release();
        }
    }

    public async Task<Rfc38.IncomingCredit> RecordIncomingAsync(string peerId, string key, System.Numerics.BigInteger amount, byte scale,
        Func<Rfc38.Leftover, (ulong Credit, Rfc38.Leftover Left)> convert, DateTimeOffset now, CancellationToken ct)
    {
        await _create.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            lock (_lock)
            {
                using var tx = _db.BeginTransaction();
                using (var seen = _db.CreateCommand())
                {
                    seen.CommandText = "SELECT amount, scale, credited FROM incoming_settlements WHERE peer_id = $p AND idempotency_key = $k";
                    seen.Parameters.AddWithValue("$p", peerId);
                    seen.Parameters.AddWithValue("$k", key);
                    using var r = seen.ExecuteReader();
                    if (r.Read())
                    {
                        if (r.GetString(0) != amount.ToString(CultureInfo.InvariantCulture) || r.GetInt64(1) != scale)
                            throw new Rfc38.IncomingSettlementException($"Idempotency-Key '{key}' was used before with another quantity");
                        return new Rfc38.IncomingCredit(peerId, key, unchecked((ulong)r.GetInt64(2)), scale, Replayed: true);
                    }
                }
                var leftover = Rfc38.Leftover.None;
                using (var read = _db.CreateCommand())
                {
                    read.CommandText = "SELECT amount, scale FROM settlement_leftovers WHERE peer_id = $p";
                    read.Parameters.AddWithValue("$p", peerId);
                    using var r = read.ExecuteReader();
                    if (r.Read()) leftover = new Rfc38.Leftover(System.Numerics.BigInteger.Parse(r.GetString(0), CultureInfo.InvariantCulture), (byte)r.GetInt64(1));
                }
                var (credit, left) = convert(leftover);
                using (var write = _db.CreateCommand())
                {
                    write.CommandText = """
                        INSERT INTO incoming_settlements VALUES ($p, $k, $a, $s, $c, $t);
                        INSERT INTO settlement_leftovers VALUES ($p, $la, $ls) ON CONFLICT (peer_id) DO UPDATE SET amount = excluded.amount, scale = excluded.scale;
                        """;
                    write.Parameters.AddWithValue("$p", peerId);
                    write.Parameters.AddWithValue("$k", key);
                    write.Parameters.AddWithValue("$a", amount.ToString(CultureInfo.InvariantCulture));
                    write.Parameters.AddWithValue("$s", (long)scale);
                    write.Parameters.AddWithValue("$c", unchecked((long)credit));
                    write.Parameters.AddWithValue("$t", now.ToUnixTimeMilliseconds());
                    write.Parameters.AddWithValue("$la", left.Amount.ToString(CultureInfo.InvariantCulture));
                    write.Parameters.AddWithValue("$ls", (long)left.Scale);
                    write.ExecuteNonQuery();
                }
                tx.Commit();
                return new Rfc38.IncomingCredit(peerId, key, credit, scale, Replayed: false);
            }
        }
        finally
        {
            _create.Release();
        }
    }

    public Task<bool> TryLeaseAsync(Guid id, string holder, TimeSpan ttl, CancellationToken ct) => Task.FromResult(Get(id)?.IsOpen == true);

    /// <summary>Inserts a new open settlement; returns the existing open one for the peer instead, if any.</summary>
    public SettlementRecord CreateOrGetOpen(SettlementRecord record)
    {
        lock (_lock)
        {
            var open = OpenFor(record.PeerId);
            if (open is not null) return open;
            Write(_db, null, record, insert: true);
            return record;
        }
    }

    public void Update(SettlementRecord record)
    {
        lock (_lock) Write(_db, null, record, insert: false);
    }

    public SettlementRecord? Get(Guid id)
    {
        lock (_lock) return Query("WHERE id = $id", ("$id", id.ToString())).FirstOrDefault();
    }

    public SettlementRecord? OpenFor(string peerId)
    {
        lock (_lock) return Query("WHERE peer_id = $p AND state IN (0, 1)", ("$p", peerId)).FirstOrDefault();
    }

    public IReadOnlyList<SettlementRecord> List(SettlementState? state = null, string? peerId = null)
    {
        lock (_lock)
        {
            var where = new List<string>();
            var args = new List<(string, object)>();
            if (state is { } s)
            {
                where.Add("state = $s");
                args.Add(("$s", (long)s));
            }
            if (peerId is not null)
            {
                where.Add("peer_id = $p");
                args.Add(("$p", peerId));
            }
            return Query((where.Count > 0 ? "WHERE " + string.Join(" AND ", where) : "") + " ORDER BY created_at", [.. args]);
        }
    }

    private static void Write(SqliteConnection db, SqliteTransaction? tx, SettlementRecord r, bool insert)
    {
        using var cmd = db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = insert
            ? "INSERT INTO settlements VALUES ($id, $peer, $method, $amount, $token, $state, $attempts, $error, $ref, $created, $updated, $next)"
            : "UPDATE settlements SET state = $state, attempts = $attempts, last_error = $error, reference = $ref, updated_at = $updated, next_attempt_at = $next WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", r.Id.ToString());
        cmd.Parameters.AddWithValue("$peer", r.PeerId);
        cmd.Parameters.AddWithValue("$method", r.Method);
        // Amounts are ulong; stored as the same 64 bits (SQLite INTEGER is signed 64-bit).
        cmd.Parameters.AddWithValue("$amount", unchecked((long)r.Amount));
        cmd.Parameters.AddWithValue("$token", r.Token);
        cmd.Parameters.AddWithValue("$state", (long)r.State);
        cmd.Parameters.AddWithValue("$attempts", (long)r.Attempts);
        cmd.Parameters.AddWithValue("$error", (object?)r.LastError ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$ref", (object?)r.Reference ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$created", r.CreatedAt.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$updated", r.UpdatedAt.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$next", r.NextAttemptAt.ToUnixTimeMilliseconds());
        if (cmd.ExecuteNonQuery() != 1) throw new InvalidOperationException($"settlement {r.Id} was not {(insert ? "inserted" : "found")}");
    }

    private List<SettlementRecord> Query(string tail, params (string Name, object Value)[] args)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = "SELECT id, peer_id, method, amount, token, state, attempts, last_error, reference, created_at, updated_at, next_attempt_at FROM settlements " + tail;
        foreach (var (name, value) in args) cmd.Parameters.AddWithValue(name, value);
        using var r = cmd.ExecuteReader();
        var list = new List<SettlementRecord>();
        while (r.Read())
        {
            list.Add(SettlementRows.Read(r));
        }
        return list;
    }

    /// <summary>
    /// Copies a pre-2.1 settlements.db (brought to its latest layout first) into this store's tables in one transaction;
    /// rows already here are kept (by key), so a second import changes nothing. Returns the rows copied per table.
    /// </summary>
    public IReadOnlyDictionary<string, int> ImportFile(string legacyPath)
    {
        using (Open(legacyPath))
        {
            // migrated to the latest settlements.db layout, so every table below exists there with this column order
        }
        var copied = new Dictionary<string, int>(StringComparer.Ordinal);
        lock (_lock)
        {
            using (var attach = _db.CreateCommand())
            {
                attach.CommandText = "ATTACH DATABASE $p AS legacy";
                attach.Parameters.AddWithValue("$p", Path.GetFullPath(legacyPath));
                attach.ExecuteNonQuery();
            }
            try
            {
                using var tx = _db.BeginTransaction(deferred: false);
                foreach (var table in Tables)
                {
                    using var cmd = _db.CreateCommand();
                    cmd.Transaction = tx;
                    cmd.CommandText = $"INSERT OR IGNORE INTO main.{table} SELECT * FROM legacy.{table}";
                    copied[table] = cmd.ExecuteNonQuery();
                }
                tx.Commit();
            }
            finally
            {
                Exec(_db, "DETACH DATABASE legacy");
            }
        }
        return copied;
    }

    private static void Exec(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    public void Dispose()
    {
        _db.Dispose();
        _create.Dispose();
    }
}
