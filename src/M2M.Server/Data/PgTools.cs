using System.Diagnostics;
using Npgsql;

namespace M2M.Server.Data;

/// <summary>pg_dump / pg_restore for the PostgreSQL ledger: found on PATH or under /usr/lib/postgresql/*/bin (Debian).</summary>
public static class PgTools
{
    public static string? Find(string tool)
    {
        foreach (string dir in (M2M.Server.Configuration.ConfigLoader.Variable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            if (File.Exists(Path.Combine(dir, tool))) return Path.Combine(dir, tool);
        if (!Directory.Exists("/usr/lib/postgresql")) return null;
        return Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => d, StringComparer.Ordinal)
            .Select(d => Path.Combine(d, "bin", tool)).FirstOrDefault(File.Exists);
    }

    /// <summary>Runs a libpq tool against the database of an Npgsql connection string (passed as PG* variables, never on the command line).</summary>
    public static async Task RunAsync(string tool, string connectionString, IEnumerable<string> args, CancellationToken ct)
    {
        string exe = Find(tool) ?? throw new BackupException($"{tool} not found on PATH or under /usr/lib/postgresql/*/bin: install the PostgreSQL client tools");
        var b = M2M.Ledger.Postgres.PostgresConnectionString.Parse(connectionString);
        var info = new ProcessStartInfo(exe) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in args) info.ArgumentList.Add(a);
        info.Environment["PGHOST"] = b.Host ?? "localhost";
        info.Environment["PGPORT"] = b.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (b.Username is not null) info.Environment["PGUSER"] = b.Username;
        if (b.Password is not null) info.Environment["PGPASSWORD"] = b.Password;
        if (b.Database is not null) info.Environment["PGDATABASE"] = b.Database;
        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync(ct);
        var stdout = p.StandardOutput.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct).ConfigureAwait(false);
        if (p.ExitCode != 0) throw new BackupException($"{tool} failed (exit {p.ExitCode}): {(await stderr.ConfigureAwait(false)).Trim().Split('\n').FirstOrDefault()}");
        await stdout.ConfigureAwait(false);
    }
}
