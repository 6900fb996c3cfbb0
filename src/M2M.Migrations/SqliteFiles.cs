using System.Security.Cryptography;
using M2M.Core.Progress;
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
    /// <param name="step">Told the copy's size as it grows (VACUUM INTO has no callback, so the file is polled).</param>
    public static void CopyOnline(string source, string destination, IWorkStep? step = null)
    {
        if (File.Exists(destination)) File.Delete(destination);
        using var c = OpenReadOnly(source);
        using var cmd = c.CreateCommand();
        cmd.CommandText = "VACUUM INTO $dest";
        cmd.Parameters.AddWithValue("$dest", Path.GetFullPath(destination));
        using var poll = step is null ? null : new Timer(_ => step.Report(LengthOrZero(destination)), null, ProgressPoll, ProgressPoll);
        cmd.ExecuteNonQuery();
    }

    private static readonly TimeSpan ProgressPoll = TimeSpan.FromMilliseconds(250);

    private static long LengthOrZero(string path)
    {
        try
        {
            return new FileInfo(path).Length;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>A plain copy in 1 MiB chunks, flushed to disk, reporting bytes copied.</summary>
    public static void CopyFile(string source, string destination, IWorkStep? step = null)
    {
        using var from = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        using var to = new FileStream(destination, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        var buffer = new byte[1 << 20];
        long done = 0;
        int n;
        while ((n = from.Read(buffer)) > 0)
        {
            to.Write(buffer, 0, n);
            done += n;
            step?.Report(done);
        }
        to.Flush(flushToDisk: true);
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

    public static string Sha256(string path, IWorkStep? step = null)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        if (step is null) return Convert.ToHexStringLower(SHA256.HashData(f));
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        long done = 0;
        int n;
        while ((n = f.Read(buffer)) > 0)
        {
            hash.AppendData(buffer, 0, n);
            done += n;
            step.Report(done);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
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
