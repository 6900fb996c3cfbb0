using M2M.Core.Migrations;
using Microsoft.Data.Sqlite;

namespace M2M.Migrations;

/// <summary>
/// Runs a <see cref="MigrationSet"/> against one SQLite file. Each migration runs in its own
/// BEGIN IMMEDIATE transaction together with its <c>schema_migrations</c> row, so a kill at any
/// point leaves the file either before or after that migration. A store that still has the
/// legacy <c>schema_version</c> table gets its version there too, so releases that only read that
/// table keep refusing newer data.
/// </summary>
public static class SqliteMigrator
{
    private const string Table = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER PRIMARY KEY,
            name       TEXT NOT NULL,
            sha256     TEXT NOT NULL,
            kind       TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        );
        """;

    /// <summary>
    /// The recorded migrations; empty when the table does not exist (a new file or a pre-framework
    /// layout). A legacy <c>schema_version</c> above them (a release that wrote only that table)
    /// counts as a newer schema of unknown kind, so it is treated as a contract.
    /// </summary>
    public static SchemaState ReadState(SqliteConnection c, SqliteTransaction? tx = null)
    {
        var state = SchemaState.From(ReadApplied(c, tx));
        long legacy = 0;
        if (TableExists(c, "schema_version", tx))
        {
            using var cmd = c.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "SELECT max(version) FROM schema_version";
            legacy = cmd.ExecuteScalar() is long v ? v : 0;
        }
        return legacy > Math.Max(state.Version, 1) ? state with { Version = (int)legacy, MinCompatible = (int)legacy } : state;
    }

    private static List<AppliedMigration> ReadApplied(SqliteConnection c, SqliteTransaction? tx)
    {
        if (!TableExists(c, "schema_migrations", tx)) return [];
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "SELECT version, name, sha256, kind FROM schema_migrations ORDER BY version";
        using var r = cmd.ExecuteReader();
        var list = new List<AppliedMigration>();
        while (r.Read())
            list.Add(new AppliedMigration((int)r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3) == "contract" ? MigrationKind.Contract : MigrationKind.Expand));
        return list;
    }

    /// <summary>Reads the state of a file without writing to it (read-only connection).</summary>
    public static SchemaState ReadState(string path)
    {
        using var c = SqliteFiles.OpenReadOnly(path);
        return ReadState(c);
    }

    /// <summary>What <see cref="Apply"/> would do to the file at <paramref name="path"/>; throws <see cref="DataSchemaException"/> to refuse.</summary>
    public static IReadOnlyList<Migration> Pending(string path, MigrationSet set) =>
        File.Exists(path) ? MigrationPlanner.Plan(set, ReadState(path), path) : set.All;

    /// <summary>Applies pending migrations; returns how many. Applying twice is a no-op.</summary>
    public static int Apply(SqliteConnection c, MigrationSet set, string location)
    {
        int applied = 0;
        foreach (var m in MigrationPlanner.Plan(set, ReadState(c), location))
        {
            using var tx = c.BeginTransaction(deferred: false);
            // Re-read inside the write lock: another process may have migrated meanwhile.
            if (MigrationPlanner.Plan(set, ReadState(c, tx), location).FirstOrDefault()?.Version != m.Version) continue;
            Exec(c, tx, m.Sql);
            Exec(c, tx, Table);
            Exec(c, tx, "INSERT INTO schema_migrations (version, name, sha256, kind, applied_at) VALUES ($v, $n, $s, $k, $t)",
                ("$v", m.Version), ("$n", m.Name), ("$s", m.Sha256), ("$k", m.Kind == MigrationKind.Contract ? "contract" : "expand"), ("$t", Now()));
            if (TableExists(c, "schema_version", tx) && HasColumn(c, "schema_version", "applied_at", tx))
                Exec(c, tx, "INSERT INTO schema_version (version, applied_at) SELECT $v, $t WHERE NOT EXISTS (SELECT 1 FROM schema_version WHERE version = $v)", ("$v", m.Version), ("$t", Now()));
            tx.Commit();
            applied++;
        }
        return applied;
    }

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    internal static bool TableExists(SqliteConnection c, string table, SqliteTransaction? tx = null)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $n";
        cmd.Parameters.AddWithValue("$n", table);
        return (long)cmd.ExecuteScalar()! > 0;
    }

    private static bool HasColumn(SqliteConnection c, string table, string column, SqliteTransaction tx)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = $"SELECT count(*) FROM pragma_table_info('{table}') WHERE name = $c";
        cmd.Parameters.AddWithValue("$c", column);
        return (long)cmd.ExecuteScalar()! > 0;
    }

    private static void Exec(SqliteConnection c, SqliteTransaction tx, string sql, params (string Name, object Value)[] args)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        foreach (var (name, value) in args) cmd.Parameters.AddWithValue(name, value);
        cmd.ExecuteNonQuery();
    }

}
