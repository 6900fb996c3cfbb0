using System.Security.Cryptography;
using Microsoft.Data.Sqlite;

namespace M2M.Migrations;

/// <summary>File-level tools for the SQLite stores: read-only open, consistent online copy, integrity check, SHA-256.</summary>
public static class SqliteFiles
{
    public static SqliteConnection OpenReadOnly(string path)
    {
        var c = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.GetFullPath(path),
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false,
            DefaultTimeout = 5,
        }.ToString());
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA busy_timeout=5000;";
        cmd.ExecuteNonQuery();
        return c;
    }

    /// <summary>
    /// A consistent copy of a live database: VACUUM INTO reads inside one read transaction, so with
    /// WAL it sees one committed snapshot while the writer keeps committing, and it never writes
    /// to the source. The copy is a fresh, compact, self-contained file (no -wal).
    /// </summary>
    public static void CopyOnline(string source, string destination)
    {
        if (File.Exists(destination)) File.Delete(destination);
        using var c = OpenReadOnly(source);
        using var cmd = c.CreateCommand();
        cmd.CommandText = "VACUUM INTO $dest";
        cmd.Parameters.AddWithValue("$dest", Path.GetFullPath(destination));
        cmd.ExecuteNonQuery();
    }

    /// <summary>"ok", or the problems PRAGMA integrity_check found (a file that is not a database counts too).</summary>
    public static string IntegrityCheck(string path)
    {
        try
        {
            using var c = OpenReadOnly(path);
            using var cmd = c.CreateCommand();
            cmd.CommandText = "PRAGMA integrity_check";
            using var r = cmd.ExecuteReader();
            var lines = new List<string>();
            while (r.Read()) lines.Add(r.GetString(0));
            return string.Join("; ", lines);
        }
        catch (SqliteException e)
        {
            return e.Message;
        }
    }

    public static string Sha256(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }

    /// <summary>Row count of every table (a cheap equality check between a file and its copy).</summary>
    public static IReadOnlyDictionary<string, long> RowCounts(string path)
    {
        using var c = OpenReadOnly(path);
        var tables = new List<string>();
        using (var cmd = c.CreateCommand())
        {
            cmd.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name";
            using var r = cmd.ExecuteReader();
            while (r.Read()) tables.Add(r.GetString(0));
        }
        var counts = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var t in tables)
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = $"SELECT count(*) FROM \"{t}\"";
            counts[t] = (long)cmd.ExecuteScalar()!;
        }
        return counts;
    }
}
