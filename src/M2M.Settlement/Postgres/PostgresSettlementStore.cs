using M2M.Settlement.Coordination;
using Npgsql;

namespace M2M.Settlement.Postgres;

/// <summary>
/// Settlement records in the PostgreSQL ledger's database, shared by every node of a cluster.
/// <see cref="CreateAsync"/> holds a per-peer transaction advisory lock while it checks for an open
/// settlement, checks minIntervalSeconds against the last settlement of any node and lets the
/// coordinator read the balance; the partial unique index is the last line of defence. Leases use
/// the database clock, so nodes with skewed clocks still agree on when a dead node's lease ends.
/// A closed record is never changed again: a node that lost its lease cannot undo another's outcome.
/// </summary>
public sealed class PostgresSettlementStore : ISettlementStore
{
    private const string Columns = "id, peer_id, method, amount, token, state, attempts, last_error, reference, created_at, updated_at, next_attempt_at";
    private readonly NpgsqlDataSource _db;

    private PostgresSettlementStore(NpgsqlDataSource db) => _db = db;

    public string Backend => "postgres";

    /// <summary>
    /// Opens the store on the ledger's database and applies its migrations. <paramref name="db"/> is the host's data
    /// source for that database (the ledger's connect timeout, synchronous_commit on); the store owns and disposes it.
    /// </summary>
    public static PostgresSettlementStore Open(NpgsqlDataSource db)
    {
        ArgumentNullException.ThrowIfNull(db);
        try
        {
            using var conn = db.OpenConnection();
            PostgresSettlementSchema.Migrate(conn);
        }
        catch
        {
            db.Dispose();
            throw;
        }
        return new PostgresSettlementStore(db);
    }

    public async Task<(CreateOutcome Outcome, SettlementRecord? Record)> CreateAsync(string peerId, DateTimeOffset now, TimeSpan minInterval,
        Func<CancellationToken, Task<SettlementRecord?>> build, Func<SettlementRecord, M2M.Core.Ledger.Transfer>? reservation, CancellationToken ct)
    {
        // The reservation is the coordinator's next step here: the PostgreSQL ledger commits on its own connections.
        await using var conn = await _db.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
        await using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtextextended('m2m-settle:' || $1, 0))", conn, tx))
        {
            lockCmd.Parameters.Add(new NpgsqlParameter { Value = peerId });
            await lockCmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        var open = Query(conn, tx, "WHERE peer_id = $1 AND state IN (0, 1)", peerId).FirstOrDefault();
        if (open is not null) return (CreateOutcome.AlreadyOpen, open);
        if (minInterval > TimeSpan.Zero)
        {
            var last = Query(conn, tx, "WHERE peer_id = $1 ORDER BY created_at DESC LIMIT 1", peerId).FirstOrDefault();
            if (last is not null && now - last.CreatedAt < minInterval) return (CreateOutcome.TooSoon, null);
        }
        var record = await build(ct).ConfigureAwait(false);
        if (record is null) return (CreateOutcome.Nothing, null);
        Insert(conn, tx, record);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return (CreateOutcome.Created, record);
    }

    public async Task<Rfc38.IncomingCredit> RecordIncomingAsync(string peerId, string key, System.Numerics.BigInteger amount, byte scale,
        Func<Rfc38.Leftover, (ulong Credit, Rfc38.Leftover Left)> convert, DateTimeOffset now, CancellationToken ct)
    {
        await using var conn = await _db.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
        await using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtextextended('m2m-settle-in:' || $1, 0))", conn, tx))
        {
            lockCmd.Parameters.Add(new NpgsqlParameter { Value = peerId });
            await lockCmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        await using (var seen = new NpgsqlCommand("SELECT amount::text, scale, credited FROM incoming_settlements WHERE peer_id = $1 AND idempotency_key = $2", conn, tx))
        {
            seen.Parameters.Add(new NpgsqlParameter { Value = peerId });
            seen.Parameters.Add(new NpgsqlParameter { Value = key });
            await using var r = await seen.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                if (r.GetString(0) != amount.ToString(System.Globalization.CultureInfo.InvariantCulture) || r.GetInt16(1) != scale)
                    throw new Rfc38.IncomingSettlementException($"Idempotency-Key '{key}' was used before with another quantity");
                return new Rfc38.IncomingCredit(peerId, key, (ulong)r.GetDecimal(2), scale, Replayed: true);
            }
        }
        var leftover = Rfc38.Leftover.None;
        await using (var read = new NpgsqlCommand("SELECT amount::text, scale FROM settlement_leftovers WHERE peer_id = $1", conn, tx))
        {
            read.Parameters.Add(new NpgsqlParameter { Value = peerId });
            await using var r = await read.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (await r.ReadAsync(ct).ConfigureAwait(false))
                leftover = new Rfc38.Leftover(System.Numerics.BigInteger.Parse(r.GetString(0), System.Globalization.CultureInfo.InvariantCulture), (byte)r.GetInt16(1));
        }
        var (credit, left) = convert(leftover);
        await using (var insert = new NpgsqlCommand("INSERT INTO incoming_settlements VALUES ($1, $2, $3::numeric, $4, $5, $6)", conn, tx))
        {
            object[] values = [peerId, key, amount.ToString(System.Globalization.CultureInfo.InvariantCulture), (short)scale, (decimal)credit, now.ToUnixTimeMilliseconds()];
            foreach (var v in values) insert.Parameters.Add(new NpgsqlParameter { Value = v });
            await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        await using (var upsert = new NpgsqlCommand(
            "INSERT INTO settlement_leftovers VALUES ($1, $2::numeric, $3) ON CONFLICT (peer_id) DO UPDATE SET amount = excluded.amount, scale = excluded.scale", conn, tx))
        {
            object[] values = [peerId, left.Amount.ToString(System.Globalization.CultureInfo.InvariantCulture), (short)left.Scale];
            foreach (var v in values) upsert.Parameters.Add(new NpgsqlParameter { Value = v });
            await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return new Rfc38.IncomingCredit(peerId, key, credit, scale, Replayed: false);
    }

    public async Task<bool> TryLeaseAsync(Guid id, string holder, TimeSpan ttl, CancellationToken ct)
    {
        await using var conn = await _db.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("""
            UPDATE settlements SET lease_holder = $2, lease_until = now() + make_interval(secs => $3)
            WHERE id = $1 AND state IN (0, 1) AND (lease_holder IS NULL OR lease_holder = $2 OR lease_until < now())
            """, conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = holder });
        cmd.Parameters.Add(new NpgsqlParameter { Value = ttl.TotalSeconds });
        return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
    }

    public SettlementRecord CreateOrGetOpen(SettlementRecord record)
    {
        using var conn = _db.OpenConnection();
        using var tx = conn.BeginTransaction();
        using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtextextended('m2m-settle:' || $1, 0))", conn, tx))
        {
            lockCmd.Parameters.Add(new NpgsqlParameter { Value = record.PeerId });
            lockCmd.ExecuteNonQuery();
        }
        if (record.IsOpen && Query(conn, tx, "WHERE peer_id = $1 AND state IN (0, 1)", record.PeerId).FirstOrDefault() is { } open) return open;
        if (Query(conn, tx, "WHERE id = $1", record.Id).FirstOrDefault() is { } same) return same;
        Insert(conn, tx, record);
        tx.Commit();
        return record;
    }

    public void Update(SettlementRecord r)
    {
        using var conn = _db.OpenConnection();
        using var cmd = new NpgsqlCommand("""
            UPDATE settlements SET state = $2, attempts = $3, last_error = $4, reference = $5, updated_at = $6, next_attempt_at = $7
            WHERE id = $1 AND state IN (0, 1)
            """, conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = r.Id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (short)r.State });
        cmd.Parameters.Add(new NpgsqlParameter { Value = r.Attempts });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)r.LastError ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)r.Reference ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter { Value = r.UpdatedAt.ToUnixTimeMilliseconds() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = r.NextAttemptAt.ToUnixTimeMilliseconds() });
        if (cmd.ExecuteNonQuery() == 1) return;
        // Closed by another node (its outcome stands) or missing (a bug).
        if (Get(r.Id) is null) throw new InvalidOperationException($"settlement {r.Id} was not found");
    }

    public SettlementRecord? Get(Guid id)
    {
        using var conn = _db.OpenConnection();
        return Query(conn, null, "WHERE id = $1", id).FirstOrDefault();
    }

    public SettlementRecord? OpenFor(string peerId)
    {
        using var conn = _db.OpenConnection();
        return Query(conn, null, "WHERE peer_id = $1 AND state IN (0, 1)", peerId).FirstOrDefault();
    }

    public IReadOnlyList<SettlementRecord> List(SettlementState? state = null, string? peerId = null)
    {
        using var conn = _db.OpenConnection();
        return Query(conn, null, "WHERE ($1::smallint IS NULL OR state = $1) AND ($2::text IS NULL OR peer_id = $2) ORDER BY created_at, id",
            state is { } s ? (short)s : DBNull.Value, (object?)peerId ?? DBNull.Value);
    }

    private static void Insert(NpgsqlConnection conn, NpgsqlTransaction tx, SettlementRecord r)
    {
        using var cmd = new NpgsqlCommand($"INSERT INTO settlements ({Columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)", conn, tx);
        object[] values =
        [
            r.Id, r.PeerId, r.Method, (decimal)r.Amount, r.Token, (short)r.State, r.Attempts, (object?)r.LastError ?? DBNull.Value,
            (object?)r.Reference ?? DBNull.Value, r.CreatedAt.ToUnixTimeMilliseconds(), r.UpdatedAt.ToUnixTimeMilliseconds(), r.NextAttemptAt.ToUnixTimeMilliseconds(),
        ];
        foreach (var v in values) cmd.Parameters.Add(new NpgsqlParameter { Value = v });
        cmd.ExecuteNonQuery();
    }

    private static List<SettlementRecord> Query(NpgsqlConnection conn, NpgsqlTransaction? tx, string tail, params object[] args)
    {
        using var cmd = new NpgsqlCommand($"SELECT {Columns} FROM settlements {tail}", conn, tx);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        using var r = cmd.ExecuteReader();
        var list = new List<SettlementRecord>();
        while (r.Read())
        {
            list.Add(SettlementRows.Read(r));
        }
        return list;
    }

    public void Dispose() => _db.Dispose();
}
