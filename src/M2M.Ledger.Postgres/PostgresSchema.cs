using M2M.Core.Ledger;
using M2M.Core.Migrations;
using Npgsql;

namespace M2M.Ledger.Postgres;

/// <summary>
/// The numbered migrations in Migrations/*.sql (embedded), applied at open. Each runs in its own
/// transaction under a transaction-scoped advisory lock together with its <c>schema_migrations</c>
/// row (name, SHA-256, expand/contract), so several connector processes opening the same database
/// at once do not race. The legacy <c>schema_version</c> table is kept up to date for releases
/// that only read it. Edited or deleted applied migrations and newer contract schemas are refused.
/// </summary>
internal static class PostgresSchema
{
    public static readonly MigrationSet Migrations = MigrationSet.FromResources("ledger", typeof(PostgresSchema).Assembly, "m2m.migrations.ledger-postgres.");

    // Arbitrary constant: "m2m-ledger" advisory lock key for migrations.
    private const long MigrationLockKey = 0x6d326d_6c6564;

    private const string Tables = """
        CREATE TABLE IF NOT EXISTS schema_version (
            version    INT PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        );
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INT PRIMARY KEY,
            name       TEXT NOT NULL,
            sha256     TEXT NOT NULL,
            kind       TEXT NOT NULL,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        );
        """;

    public static async Task MigrateAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        while (true)
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            await Exec(conn, tx, $"SELECT pg_advisory_xact_lock({MigrationLockKey})", ct).ConfigureAwait(false);
            var state = await ReadStateAsync(conn, tx, ct).ConfigureAwait(false);
            IReadOnlyList<Migration> pending;
            try
            {
                pending = MigrationPlanner.Plan(Migrations, state, "postgres");
            }
            catch (DataSchemaException e)
            {
                throw new LedgerUnavailableException(e.Message, e);
            }
            if (pending.Count == 0) return; // the transaction rolls back: nothing was written
            var m = pending[0];
            await Exec(conn, tx, Tables, ct).ConfigureAwait(false);
            await Exec(conn, tx, m.Sql, ct).ConfigureAwait(false);
            await using (var cmd = new NpgsqlCommand("INSERT INTO schema_migrations (version, name, sha256, kind) VALUES ($1, $2, $3, $4)", conn, tx))
            {
                cmd.Parameters.Add(new NpgsqlParameter { Value = m.Version });
                cmd.Parameters.Add(new NpgsqlParameter { Value = m.Name });
                cmd.Parameters.Add(new NpgsqlParameter { Value = m.Sha256 });
                cmd.Parameters.Add(new NpgsqlParameter { Value = m.Kind == MigrationKind.Contract ? "contract" : "expand" });
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            await Exec(conn, tx, $"INSERT INTO schema_version (version) VALUES ({m.Version}) ON CONFLICT DO NOTHING", ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>The recorded migrations (empty on a new database); reads only. A legacy schema_version above them counts as a newer contract schema.</summary>
    public static async Task<SchemaState> ReadStateAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, CancellationToken ct)
    {
        var state = SchemaState.From(await ReadAppliedAsync(conn, tx, ct).ConfigureAwait(false));
        int legacy = 0;
        await using (var exists = new NpgsqlCommand("SELECT to_regclass('schema_version') IS NOT NULL", conn, tx))
            if ((bool)(await exists.ExecuteScalarAsync(ct).ConfigureAwait(false))!)
            {
                await using var max = new NpgsqlCommand("SELECT coalesce(max(version), 0) FROM schema_version", conn, tx);
                legacy = Convert.ToInt32(await max.ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
            }
        return legacy > Math.Max(state.Version, 1) ? state with { Version = legacy, MinCompatible = legacy } : state;
    }

    private static async Task<List<AppliedMigration>> ReadAppliedAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, CancellationToken ct)
    {
        await using (var exists = new NpgsqlCommand("SELECT to_regclass('schema_migrations') IS NOT NULL", conn, tx))
            if (!(bool)(await exists.ExecuteScalarAsync(ct).ConfigureAwait(false))!) return [];
        var list = new List<AppliedMigration>();
        await using var cmd = new NpgsqlCommand("SELECT version, name, sha256, kind FROM schema_migrations ORDER BY version", conn, tx);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            list.Add(new AppliedMigration(r.GetInt32(0), r.GetString(1), r.GetString(2), r.GetString(3) == "contract" ? MigrationKind.Contract : MigrationKind.Expand));
        return list;
    }

    private static async Task Exec(NpgsqlConnection conn, NpgsqlTransaction tx, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
