using M2M.Core.Migrations;
using Npgsql;

namespace M2M.Settlement.Postgres;

/// <summary>
/// The settlement tables' migrations (Postgres/Migrations/*.sql, embedded), recorded in their own
/// <c>settlement_schema_migrations</c> table so they never collide with the ledger's numbering.
/// Each step runs in one transaction under a transaction-scoped advisory lock, so nodes starting
/// together do not race; edited, deleted or newer-contract migrations are refused.
/// </summary>
public static class PostgresSettlementSchema
{
    public static readonly MigrationSet Migrations = MigrationSet.FromResources("settlements-postgres", typeof(PostgresSettlementSchema).Assembly, "m2m.migrations.settlements-postgres.");

    // "m2m-settl" as an advisory lock key, distinct from the ledger's migration lock.
    private const long MigrationLockKey = 0x6d326d_736574;

    private const string Bookkeeping = """
        CREATE TABLE IF NOT EXISTS settlement_schema_migrations (
            version    INT PRIMARY KEY,
            name       TEXT NOT NULL,
            sha256     TEXT NOT NULL,
            kind       TEXT NOT NULL,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        );
        """;

    public static void Migrate(NpgsqlConnection conn)
    {
        while (true)
        {
            using var tx = conn.BeginTransaction();
            Exec(conn, tx, $"SELECT pg_advisory_xact_lock({MigrationLockKey}); {Bookkeeping}");
            var applied = new List<AppliedMigration>();
            using (var read = new NpgsqlCommand("SELECT version, name, sha256, kind FROM settlement_schema_migrations ORDER BY version", conn, tx))
            using (var r = read.ExecuteReader())
                while (r.Read()) applied.Add(new AppliedMigration(r.GetInt32(0), r.GetString(1), r.GetString(2), r.GetString(3) == "contract" ? MigrationKind.Contract : MigrationKind.Expand));
            var pending = MigrationPlanner.Plan(Migrations, SchemaState.From(applied), conn.Database ?? "postgres");
            if (pending.Count == 0)
            {
                tx.Commit(); // the bookkeeping table, if it was just created
                return;
            }
            var m = pending[0];
            Exec(conn, tx, m.Sql);
            using (var cmd = new NpgsqlCommand("INSERT INTO settlement_schema_migrations (version, name, sha256, kind) VALUES ($1, $2, $3, $4)", conn, tx))
            {
                cmd.Parameters.Add(new NpgsqlParameter { Value = m.Version });
                cmd.Parameters.Add(new NpgsqlParameter { Value = m.Name });
                cmd.Parameters.Add(new NpgsqlParameter { Value = m.Sha256 });
                cmd.Parameters.Add(new NpgsqlParameter { Value = m.Kind == MigrationKind.Contract ? "contract" : "expand" });
                cmd.ExecuteNonQuery();
            }
            tx.Commit();
        }
    }

    private static void Exec(NpgsqlConnection conn, NpgsqlTransaction tx, string sql)
    {
        using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.ExecuteNonQuery();
    }
}
