using Microsoft.Data.Sqlite;

namespace M2M.Wallets;

/// <summary>Schema detection and the 2.0 DDL of <c>agent-wallets.db</c>. Versions are 1 and 2 internally,
/// "1.0"/"2.0" in messages.</summary>
public static class WalletSchema
{
    public const int Empty = 0, V1 = 1, V2 = 2;
    public static readonly string[] V1Tables = ["agent_wallets", "agent_balances", "wallet_lifecycle", "wallet_archives", "agent_channels"];

    public static string Label(int version) => version switch { V1 => "1.0", V2 => "2.0", Empty => "empty", _ => $"{version}.0" };

    public static int ParseLabel(string label) => label.Trim() switch
    {
        "1.0" or "1" => V1,
        "2.0" or "2" => V2,
        _ => throw new WalletMigrationException($"unknown wallet store version '{label}' (known: 1.0, 2.0)"),
    };

    internal const string V2Ddl = """
        CREATE TABLE schema_version (version INTEGER NOT NULL);
        CREATE TABLE vault (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          kdf TEXT NOT NULL,
          iterations INTEGER NOT NULL,
          salt BLOB NOT NULL,
          nonce BLOB NOT NULL,
          tag BLOB NOT NULL,
          ciphertext BLOB NOT NULL,
          created_at INTEGER NOT NULL
        );
        CREATE TABLE wallets (
          agent_id TEXT NOT NULL,
          derivation_index INTEGER NOT NULL,
          chain TEXT NOT NULL CHECK (chain IN ('evm','xrp')),
          address TEXT NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('active','suspended','archived')),
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL,
          PRIMARY KEY (agent_id, chain)
        );
        CREATE UNIQUE INDEX wallets_chain_index ON wallets (chain, derivation_index);
        CREATE TABLE wallet_audit (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          agent_id TEXT NOT NULL,
          action TEXT NOT NULL,
          at INTEGER NOT NULL,
          detail TEXT
        );
        CREATE INDEX wallet_audit_agent ON wallet_audit (agent_id, id);
        """;

    internal static SqliteConnection OpenConnection(string path, SqliteOpenMode mode)
    {
        // A process killed mid-transaction leaves a hot journal; only a writable connection rolls it back, so the
        // read-only checks (version, dry run, password) see and leave the file as it was before that transaction.
        if (mode == SqliteOpenMode.ReadOnly && File.Exists(path + "-journal")) RollBackHotJournal(path);
        var cs = new SqliteConnectionStringBuilder { DataSource = path, Mode = mode, Pooling = false }.ToString();
        var c = new SqliteConnection(cs);
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA busy_timeout = 5000;";
        cmd.ExecuteNonQuery();
        return c;
    }

    /// <summary>The store holds the sealed seed: owner read/write only, like a key file (no-op on Windows).</summary>
    internal static void RestrictToOwner(string path)
    {
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    private static void RollBackHotJournal(string path)
    {
        try
        {
            using var c = OpenConnection(path, SqliteOpenMode.ReadWrite);
            using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT count(*) FROM sqlite_master";
            cmd.ExecuteScalar();
        }
        catch (SqliteException)
        {
            // Not writable here: the read-only open that follows reports the real problem, if any.
        }
    }

    internal static bool TableExists(SqliteConnection c, string table, SqliteTransaction? tx = null)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $n";
        cmd.Parameters.AddWithValue("$n", table);
        return Convert.ToInt64(cmd.ExecuteScalar()) > 0;
    }

    /// <summary>0 = empty file, 1 = the 1.0 TypeScript layout (agent_wallets, no schema_version), 2 = schema_version 2.
    /// Anything else is refused.</summary>
    public static int DetectVersion(SqliteConnection c)
    {
        if (TableExists(c, "schema_version"))
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT max(version) FROM schema_version";
            var v = cmd.ExecuteScalar();
            if (v is null or DBNull) throw new WalletStoreException("wallet store has an empty schema_version table: unknown version");
            var version = Convert.ToInt32(v);
            if (version != V2) throw new WalletStoreException($"unknown wallet store schema version {version} (this build knows 1.0 and 2.0)");
            return V2;
        }
        if (TableExists(c, "agent_wallets")) return V1;
        using (var cmd = c.CreateCommand())
        {
            cmd.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table'";
            if (Convert.ToInt64(cmd.ExecuteScalar()) == 0) return Empty;
        }
        throw new WalletStoreException("not an agent wallet store: no schema_version and no agent_wallets table (unknown version)");
    }

    public static int DetectVersion(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"wallet store not found: {path}", path);
        using var c = OpenConnection(path, SqliteOpenMode.ReadOnly);
        return DetectVersion(c);
    }

    internal static void CreateV2(SqliteConnection c, SqliteTransaction tx)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = V2Ddl + $"\nINSERT INTO schema_version (version) VALUES ({V2});";
        cmd.ExecuteNonQuery();
    }
}
