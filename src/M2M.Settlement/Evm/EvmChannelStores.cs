using System.Data.Common;
using System.Globalization;
using System.Numerics;
using M2M.Core.Migrations;
using M2M.Migrations;
using M2M.Settlement.Coordination;
using M2M.Settlement.Postgres;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace M2M.Settlement.Evm;

/// <summary>One claim we signed (payer side) or accepted (receiver side).</summary>
public sealed record EvmStoredClaim(string PeerId, string ChannelId, BigInteger CumulativeWei, string Signature);

/// <summary>What <see cref="EvmChannelStore.ImportFile"/> and <see cref="EvmClaimStore.ImportFile"/> copied from a pre-2.1 file.</summary>
public sealed record EvmImport(int Channels, int Claims, int Skipped);

/// <summary>
/// The EVM channel tables live in the settlement store, beside the settlement records (issue 15): the
/// SQLite ledger's file of a one-process ledger (settlements.db before 2.1, and beside other ledgers), or the
/// PostgreSQL ledger's database shared by every node. One SQLite connection (WAL, synchronous=FULL) behind a lock, or a pooled PostgreSQL source.
/// </summary>
public abstract class EvmStore : IDisposable
{
    private readonly SqliteConnection? _sqlite;
    private readonly NpgsqlDataSource? _pg;
    private readonly Lock _gate = new();

    private protected EvmStore(string sqlitePath)
    {
        string full = Path.GetFullPath(sqlitePath);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        _sqlite = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = full, Pooling = false }.ToString());
        _sqlite.Open();
        try
        {
            using var cmd = _sqlite.CreateCommand();
            cmd.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;";
            cmd.ExecuteNonQuery();
            SqliteMigrator.Apply(_sqlite, SettlementStore.Migrations, full);
        }
        catch
        {
            _sqlite.Dispose();
            throw;
        }
    }

    /// <summary>The tables in the SQLite ledger's file (ledger migration 0005): a connection beside the ledger's writer, with a busy timeout.</summary>
    private protected EvmStore(ISqliteLedgerFile ledger) => _sqlite = SettlementStore.OpenLedgerConnection(ledger.Path);

    private protected EvmStore(NpgsqlDataSource pg)
    {
        _pg = pg;
        try
        {
            using var conn = pg.OpenConnection();
            PostgresSettlementSchema.Migrate(conn);
        }
        catch
        {
            pg.Dispose();
            throw;
        }
    }

    /// <summary>"sqlite" or "postgres".</summary>
    public string Backend => _pg is null ? "sqlite" : "postgres";

    private protected bool IsPostgres => _pg is not null;

    /// <summary>
    /// Serializes work on one peer's channel across every node sharing the store: on PostgreSQL a session
    /// advisory lock (released when the holder disposes it or its connection dies with the node); on SQLite
    /// one process owns the store and the callers' in-process gates suffice.
    /// </summary>
    public async Task<IAsyncDisposable> LockPeerAsync(string scope, string peerId, CancellationToken ct)
    {
        if (_pg is null) return NoLock.Instance;
        var conn = await _pg.OpenConnectionAsync(ct).ConfigureAwait(false);
        try
        {
            await using var cmd = new NpgsqlCommand("SELECT pg_advisory_lock(hashtextextended($1, 0))", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = $"m2m-evm-{scope}:{peerId}" });
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return new AdvisoryLock(conn, $"m2m-evm-{scope}:{peerId}");
        }
        catch
        {
            await conn.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs <paramref name="work"/> in one transaction (BEGIN IMMEDIATE on SQLite) and commits it.</summary>
    private protected T InTransaction<T>(Func<DbConnection, DbTransaction, T> work)
    {
        if (_sqlite is not null)
        {
            lock (_gate)
            {
                using var tx = _sqlite.BeginTransaction(deferred: false);
                var result = work(_sqlite, tx);
                tx.Commit();
                return result;
            }
        }
        using var conn = _pg!.OpenConnection();
        using var pgTx = conn.BeginTransaction();
        var value = work(conn, pgTx);
        pgTx.Commit();
        return value;
    }

    /// <summary>Runs a read (or a single statement) without an explicit transaction.</summary>
    private protected T Read<T>(Func<DbConnection, T> work)
    {
        if (_sqlite is not null)
        {
            lock (_gate) return work(_sqlite);
        }
        using var conn = _pg!.OpenConnection();
        return work(conn);
    }

    /// <summary>A command with "@name" parameters (both providers accept that form).</summary>
    private protected static DbCommand Command(DbConnection c, DbTransaction? tx, string sql, params (string Name, object? Value)[] args)
    {
        var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        foreach (var (name, value) in args)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            cmd.Parameters.Add(p);
        }
        return cmd;
    }

    private protected int CountRows(string table) => Read(c =>
    {
        using var cmd = Command(c, null, $"SELECT count(*) FROM {table}");
        return Convert.ToInt32(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    });

    /// <summary>SQL: <paramref name="a"/> &lt; <paramref name="b"/> for canonical decimal text (shorter is smaller, then byte order).</summary>
    private protected string Less(string a, string b)
    {
        string collate = IsPostgres ? " COLLATE \"C\"" : "";
        return $"(length({a}) < length({b}) OR (length({a}) = length({b}) AND {a}{collate} < {b}{collate}))";
    }

    private protected static string Wei(BigInteger value) => value.ToString(CultureInfo.InvariantCulture);

    private protected static BigInteger Wei(string value) => BigInteger.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture);

    /// <summary>Rows of a table in a pre-2.1 evm-*.db file (none when the table is absent); the file is only read.</summary>
    private protected static List<object[]> LegacyRows(string path, string table, string columns)
    {
        var rows = new List<object[]>();
        using var legacy = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.GetFullPath(path), Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        legacy.Open();
        using (var exists = legacy.CreateCommand())
        {
            exists.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $t";
            exists.Parameters.AddWithValue("$t", table);
            if ((long)exists.ExecuteScalar()! == 0) return rows;
        }
        using var cmd = legacy.CreateCommand();
        cmd.CommandText = $"SELECT {columns} FROM {table}";
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            var row = new object[r.FieldCount];
            r.GetValues(row);
            rows.Add(row);
        }
        return rows;
    }

    public void Dispose()
    {
        _sqlite?.Dispose();
        _pg?.Dispose();
        GC.SuppressFinalize(this);
    }

    private sealed class NoLock : IAsyncDisposable
    {
        public static readonly NoLock Instance = new();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class AdvisoryLock(NpgsqlConnection conn, string key) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                await using var cmd = new NpgsqlCommand("SELECT pg_advisory_unlock(hashtextextended($1, 0))", conn);
                cmd.Parameters.Add(new NpgsqlParameter { Value = key });
                await cmd.ExecuteNonQueryAsync().ConfigureAwait(false);
            }
            catch (NpgsqlException)
            {
                // The connection is gone: PostgreSQL released the session lock with it.
            }
            finally
            {
                await conn.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}

/// <summary>
/// Payer side (tables evm_channels, evm_settlement_claims): per peer the channel we opened and the cumulative
/// wei signed so far, and per settlement id the claim sent for it, so a resend of the same settlement (by this
/// node or by another that resumes it) re-sends the same claim, never a bigger one.
/// </summary>
public sealed class EvmChannelStore : EvmStore
{
    /// <summary>The pre-2.1 evm-channels.db file's migrations (backups and the start-up gate of a file not yet imported).</summary>
    public static readonly MigrationSet Migrations = MigrationSet.FromResources("evm-channels", typeof(EvmChannelStore).Assembly, "m2m.migrations.evm-channels.");

    private EvmChannelStore(string path)
        : base(path)
    {
    }

    private EvmChannelStore(NpgsqlDataSource pg)
        : base(pg)
    {
    }

    private EvmChannelStore(ISqliteLedgerFile ledger)
        : base(ledger)
    {
    }

    /// <summary>The table(s) in the SQLite ledger's file.</summary>
    public static EvmChannelStore OpenInLedger(ISqliteLedgerFile ledger) => new(ledger);

    /// <summary>The tables in the SQLite settlement store at <paramref name="path"/> (settlements.db).</summary>
    public static EvmChannelStore Open(string path) => new(path);

    /// <summary>The tables in the PostgreSQL ledger's database (shared by every node), through the host's data source for it, which the store owns.</summary>
    public static EvmChannelStore OpenPostgres(NpgsqlDataSource db) => new(db);

    /// <summary>Channels we opened to pay peers.</summary>
    public int ChannelCount() => CountRows("evm_channels");

    /// <summary>The channel we pay this peer on and its cumulative signed amount, or null when none was opened.</summary>
    public (string ChannelId, BigInteger CumulativeWei)? Channel(string peerId) => Read<(string, BigInteger)?>(c =>
    {
        using var cmd = Command(c, null, "SELECT channel_id, cumulative_wei FROM evm_channels WHERE peer_id = @p", ("@p", peerId));
        using var r = cmd.ExecuteReader();
        return r.Read() ? (r.GetString(0), Wei(r.GetString(1))) : null;
    });

    /// <summary>
    /// Records a freshly opened channel (nothing signed on it yet). A channel already recorded for the peer is
    /// kept (its cumulative amount is what the peer can redeem): never reset by a second open.
    /// </summary>
    public void SetChannel(string peerId, string channelId) => Read(c =>
    {
        using var cmd = Command(c, null, "INSERT INTO evm_channels (peer_id, channel_id, cumulative_wei) VALUES (@p, @c, '0') ON CONFLICT (peer_id) DO NOTHING",
            ("@p", peerId), ("@c", channelId));
        return cmd.ExecuteNonQuery();
    });

    public EvmStoredClaim? ClaimFor(Guid settlementId) => Read(c => ClaimFor(c, null, settlementId));

    private static EvmStoredClaim? ClaimFor(DbConnection c, DbTransaction? tx, Guid settlementId)
    {
        using var cmd = Command(c, tx, "SELECT peer_id, channel_id, cumulative_wei, signature FROM evm_settlement_claims WHERE settlement_id = @s", ("@s", settlementId.ToString()));
        using var r = cmd.ExecuteReader();
        return r.Read() ? new EvmStoredClaim(r.GetString(0), r.GetString(1), Wei(r.GetString(2)), r.GetString(3)) : null;
    }

    /// <summary>
    /// In one transaction: raises the channel's cumulative amount and records the claim for the settlement.
    /// Returns the claim stored for the settlement (an earlier one, if it already had one: a resend never signs
    /// more). Refused (<see cref="SettlementFailedException"/>) when the settlement record is no longer open (another
    /// node closed it) or, with <paramref name="expectedWei"/>, when the channel moved on since it was read (another
    /// node signed meanwhile): the attempt is retried from a fresh read.
    /// </summary>
    public EvmStoredClaim RecordClaim(Guid settlementId, EvmStoredClaim claim, BigInteger? expectedWei = null) => InTransaction((c, tx) =>
    {
        // The settlement row first (locked on PostgreSQL): a claim is only signed for an open settlement.
        string stateSql = IsPostgres ? "SELECT state FROM settlements WHERE id = @s FOR UPDATE" : "SELECT state FROM settlements WHERE id = @s";
        using (var state = Command(c, tx, stateSql, ("@s", IsPostgres ? settlementId : settlementId.ToString())))
        {
            var value = state.ExecuteScalar();
            if (value is not null and not DBNull && Convert.ToInt32(value, CultureInfo.InvariantCulture) is not ((int)SettlementState.Pending or (int)SettlementState.Submitted))
                throw new SettlementFailedException($"settlement {settlementId} is no longer open; no claim signed for it");
        }
        if (ClaimFor(c, tx, settlementId) is { } earlier) return earlier;
        string cas = expectedWei is null ? "" : " AND cumulative_wei = @old";
        var args = new List<(string, object?)> { ("@w", Wei(claim.CumulativeWei)), ("@p", claim.PeerId), ("@c", claim.ChannelId) };
        if (expectedWei is { } old) args.Add(("@old", Wei(old)));
        using (var up = Command(c, tx, "UPDATE evm_channels SET cumulative_wei = @w WHERE peer_id = @p AND channel_id = @c" + cas, [.. args]))
        {
            if (up.ExecuteNonQuery() != 1)
                throw expectedWei is null
                    ? new InvalidOperationException($"no channel {claim.ChannelId} recorded for peer '{claim.PeerId}'")
                    : new SettlementFailedException($"channel {claim.ChannelId} to '{claim.PeerId}' moved past {expectedWei} wei while this claim was signed (another node); retrying");
        }
        using (var ins = Command(c, tx, "INSERT INTO evm_settlement_claims (settlement_id, peer_id, channel_id, cumulative_wei, signature) VALUES (@s, @p, @c, @w, @sig)",
                   ("@s", settlementId.ToString()), ("@p", claim.PeerId), ("@c", claim.ChannelId), ("@w", Wei(claim.CumulativeWei)), ("@sig", claim.Signature)))
        {
            ins.ExecuteNonQuery();
        }
        return claim;
    });

    /// <summary>
    /// Copies a pre-2.1 evm-channels.db in (idempotent: rows already present are kept). A channel recorded for a
    /// peer that already has another one here (two nodes that each opened their own) is skipped and counted.
    /// </summary>
    public EvmImport ImportFile(string legacyPath)
    {
        var channels = LegacyRows(legacyPath, "channels", "peer_id, channel_id, cumulative_wei");
        var claims = LegacyRows(legacyPath, "settlement_claims", "settlement_id, peer_id, channel_id, cumulative_wei, signature");
        return InTransaction((c, tx) =>
        {
            int copied = 0, skipped = 0, claimed = 0;
            foreach (var row in channels)
            {
                using var ins = Command(c, tx, "INSERT INTO evm_channels (peer_id, channel_id, cumulative_wei) VALUES (@p, @c, @w) ON CONFLICT (peer_id) DO NOTHING",
                    ("@p", row[0]), ("@c", row[1]), ("@w", row[2]));
                if (ins.ExecuteNonQuery() == 1)
                {
                    copied++;
                    continue;
                }
                using var same = Command(c, tx, "SELECT count(*) FROM evm_channels WHERE peer_id = @p AND channel_id = @c", ("@p", row[0]), ("@c", row[1]));
                if (Convert.ToInt64(same.ExecuteScalar(), CultureInfo.InvariantCulture) == 0) skipped++;
            }
            foreach (var row in claims)
            {
                using var ins = Command(c, tx, "INSERT INTO evm_settlement_claims (settlement_id, peer_id, channel_id, cumulative_wei, signature) VALUES (@s, @p, @c, @w, @sig) ON CONFLICT (settlement_id) DO NOTHING",
                    ("@s", row[0]), ("@p", row[1]), ("@c", row[2]), ("@w", row[3]), ("@sig", row[4]));
                claimed += ins.ExecuteNonQuery();
            }
            return new EvmImport(copied, claimed, skipped);
        });
    }
}

/// <summary>Receiver side (table evm_claims): the highest claim accepted per (peer, channel).</summary>
public sealed class EvmClaimStore : EvmStore
{
    /// <summary>The pre-2.1 evm-claims.db file's migrations (backups and the start-up gate of a file not yet imported).</summary>
    public static readonly MigrationSet Migrations = MigrationSet.FromResources("evm-claims", typeof(EvmClaimStore).Assembly, "m2m.migrations.evm-claims.");

    private EvmClaimStore(string path)
        : base(path)
    {
    }

    private EvmClaimStore(NpgsqlDataSource pg)
        : base(pg)
    {
    }

    private EvmClaimStore(ISqliteLedgerFile ledger)
        : base(ledger)
    {
    }

    /// <summary>The table(s) in the SQLite ledger's file.</summary>
    public static EvmClaimStore OpenInLedger(ISqliteLedgerFile ledger) => new(ledger);

    /// <summary>The table in the SQLite settlement store at <paramref name="path"/> (settlements.db).</summary>
    public static EvmClaimStore Open(string path) => new(path);

    /// <summary>The table in the PostgreSQL ledger's database (shared by every node), through the host's data source for it, which the store owns.</summary>
    public static EvmClaimStore OpenPostgres(NpgsqlDataSource db) => new(db);

    /// <summary>Channels peers pay us on (one row per peer and channel with an accepted claim).</summary>
    public int ChannelCount() => CountRows("evm_claims");

    public EvmStoredClaim? Latest(string peerId, string channelId) => Read(c =>
    {
        using var cmd = Command(c, null, "SELECT peer_id, channel_id, cumulative_wei, signature FROM evm_claims WHERE peer_id = @p AND channel_id = @c",
            ("@p", peerId), ("@c", channelId.ToLowerInvariant()));
        using var r = cmd.ExecuteReader();
        return r.Read() ? new EvmStoredClaim(r.GetString(0), r.GetString(1), Wei(r.GetString(2)), r.GetString(3)) : null;
    });

    /// <summary>The most recently accepted claim from the peer on any channel.</summary>
    public EvmStoredClaim? Latest(string peerId) => Read(c =>
    {
        using var cmd = Command(c, null, "SELECT peer_id, channel_id, cumulative_wei, signature FROM evm_claims WHERE peer_id = @p ORDER BY updated_at DESC LIMIT 1", ("@p", peerId));
        using var r = cmd.ExecuteReader();
        return r.Read() ? new EvmStoredClaim(r.GetString(0), r.GetString(1), Wei(r.GetString(2)), r.GetString(3)) : null;
    });

    /// <summary>Keeps the claim when it is above the stored one for its channel (a lower one never replaces a higher).</summary>
    public void Save(EvmStoredClaim claim, DateTimeOffset now) => Read(c =>
    {
        using var cmd = Command(c, null, $"""
            INSERT INTO evm_claims (peer_id, channel_id, cumulative_wei, signature, updated_at) VALUES (@p, @c, @w, @s, @t)
            ON CONFLICT (peer_id, channel_id) DO UPDATE SET cumulative_wei = excluded.cumulative_wei, signature = excluded.signature, updated_at = excluded.updated_at
            WHERE {Less("evm_claims.cumulative_wei", "excluded.cumulative_wei")}
            """, ("@p", claim.PeerId), ("@c", claim.ChannelId.ToLowerInvariant()), ("@w", Wei(claim.CumulativeWei)), ("@s", claim.Signature), ("@t", now.ToUnixTimeMilliseconds()));
        return cmd.ExecuteNonQuery();
    });

    /// <summary>Copies a pre-2.1 evm-claims.db in: per (peer, channel) the higher of the file's claim and the stored one.</summary>
    public EvmImport ImportFile(string legacyPath)
    {
        var rows = LegacyRows(legacyPath, "claims", "peer_id, channel_id, cumulative_wei, signature, updated_at");
        return InTransaction((c, tx) =>
        {
            int copied = 0;
            foreach (var row in rows)
            {
                using var cmd = Command(c, tx, $"""
                    INSERT INTO evm_claims (peer_id, channel_id, cumulative_wei, signature, updated_at) VALUES (@p, @c, @w, @s, @t)
                    ON CONFLICT (peer_id, channel_id) DO UPDATE SET cumulative_wei = excluded.cumulative_wei, signature = excluded.signature, updated_at = excluded.updated_at
                    WHERE {Less("evm_claims.cumulative_wei", "excluded.cumulative_wei")}
                    """, ("@p", row[0]), ("@c", ((string)row[1]).ToLowerInvariant()), ("@w", row[2]), ("@s", row[3]), ("@t", Convert.ToInt64(row[4], CultureInfo.InvariantCulture)));
                copied += cmd.ExecuteNonQuery();
            }
            return new EvmImport(0, copied, rows.Count - copied);
        });
    }
}
