using M2M.Core.Progress;
using M2M.Migrations;
using M2M.Server.Configuration;

namespace M2M.Server.Data;

/// <summary>
/// `restore --from DIR [--dry-run] [--force]`: verifies the backup (hashes, integrity, ledger
/// invariants) before touching anything, refuses while a connector owns the ledger (the OS lock of
/// <see cref="StoreLock"/>, which it holds itself while restoring, also on the restored file before
/// it is renamed into place), refuses to replace existing stores without
/// --force, then writes each store to a temporary file and renames it over the target (with any
/// stale -wal/-shm removed, which would otherwise be replayed onto the restored file).
/// </summary>
public static class RestoreService
{
    public static async Task<int> RestoreAsync(ConnectorSettings settings, string dir, bool dryRun, bool force, Action<string> progress, CancellationToken ct = default, IWorkProgress? work = null)
    {
        work ??= new PlainProgress(progress);
        dir = Path.GetFullPath(dir);
        var manifest = BackupManifest.Read(dir);
        if (manifest.LedgerBackend != settings.Ledger.Backend.ConfigName())
            throw new BackupException($"the backup's ledger is {manifest.LedgerBackend}, the configured ledger is {settings.Ledger.Backend.ConfigName()}");
        var problems = await BackupService.VerifyAsync(dir, progress, ct, settings.Ledger.PostgresUrl, work).ConfigureAwait(false);
        if (problems.Count > 0) throw new BackupException($"the backup in {dir} failed verification, nothing restored: {string.Join("; ", problems)}");
        var targets = Targets(settings, manifest);
        // A dry run writes nothing, so it may run beside the connector (rollback.sh lists the loss before stopping it).
        using var ledgerLock = dryRun ? null : LockLedger(settings, dryRun);
        var existing = targets.Where(t => t.Entry.Kind == "sqlite" && File.Exists(t.Target) && new FileInfo(t.Target).Length > 0).Select(t => t.Target).ToList();
        if (settings.Ledger.Backend == LedgerBackend.Postgres && (await M2M.Ledger.Postgres.PostgresLedger.ReadSchemaStateAsync(settings.Ledger.PostgresUrl!, ct, settings.Ledger.PostgresConnectTimeoutSeconds).ConfigureAwait(false)).Version > 0)
            existing.Add("the configured PostgreSQL ledger database");
        if (existing.Count > 0)
            foreach (string line in await RestoreLoss.DescribeAsync(settings, dir, manifest, ct).ConfigureAwait(false)) progress(line);
        if (existing.Count > 0 && !force && dryRun)
            progress($"dry run: --force will be needed to replace: {string.Join(", ", existing)}");
        else if (existing.Count > 0 && !force)
            throw new BackupException($"refusing to overwrite existing data without --force: {string.Join(", ", existing)}");
        var restoredLocks = new List<StoreLock?>();
        try
        {
            foreach (var (entry, target) in targets)
                restoredLocks.Add(await RestoreOneAsync(settings, dir, entry, target, dryRun, ledgerLock?.Path == Path.GetFullPath(target), progress, work, ct).ConfigureAwait(false));
        }
        finally
        {
            foreach (var l in restoredLocks) l?.Dispose();
        }
        progress(dryRun ? $"dry run: nothing written ({targets.Count} stores would be restored)" : $"restore: {targets.Count} stores restored from {dir} (backup of {manifest.CreatedAt:u}, tool {manifest.ToolVersion})");
        return 0;
    }

    private static async Task<StoreLock?> RestoreOneAsync(ConnectorSettings settings, string dir, BackupEntry entry, string target, bool dryRun, bool isLedger, Action<string> progress, IWorkProgress work, CancellationToken ct)
    {
        string action = entry.Kind == "pg_dump" ? $"pg_restore --clean into the configured PostgreSQL database" : $"{target}{(File.Exists(target) ? " (replacing the existing file)" : "")}";
        progress($"{(dryRun ? "dry run: would restore" : "restore:")} {entry.Store} (schema {entry.SchemaVersion}, {entry.Bytes:N0} bytes) -> {action}");
        if (dryRun) return null;
        using var step = work.Begin($"restore: {entry.Store}", entry.Kind == "pg_dump" ? 0 : entry.Bytes, WorkUnit.Bytes);
        StoreLock? restored = null;
        if (entry.Kind != "pg_dump") restored = ReplaceFile(Path.Combine(dir, entry.File), target, isLedger, step);
        else await PgTools.RunAsync("pg_restore", settings.Ledger.PostgresUrl!, ["--clean", "--if-exists", "--no-owner", "--single-transaction", "-d", PgDatabase(settings), Path.Combine(dir, entry.File)], ct).ConfigureAwait(false);
        step.Complete(entry.Bytes);
        return restored;
    }

    private static List<(BackupEntry Entry, string Target)> Targets(ConnectorSettings settings, BackupManifest manifest)
    {
        var stores = DataStores.SqliteStores(settings).ToDictionary(s => s.Name, s => s.Path);
        var list = new List<(BackupEntry, string)>();
        foreach (var e in manifest.Files)
        {
            if (e.Kind == "pg_dump") list.Add((e, "postgres"));
            else if (stores.TryGetValue(e.Store, out string? path)) list.Add((e, path));
            else throw new BackupException($"the backup holds store '{e.Store}', which this configuration does not have");
        }
        return list;
    }

    private static string PgDatabase(ConnectorSettings settings) => M2M.Ledger.Postgres.PostgresConnectionString.Parse(settings.Ledger.PostgresUrl!).Database ?? "postgres";

    /// <summary>The SQLite ledger's OS lock, taken exactly as the connector takes it; null for PostgreSQL and for a dry run on a missing ledger.</summary>
    private static StoreLock? LockLedger(ConnectorSettings settings, bool dryRun)
    {
        if (settings.Ledger.Backend != LedgerBackend.Sqlite) return null;
        string full = Path.GetFullPath(settings.Ledger.Path);
        if (dryRun && !File.Exists(full)) return null; // a dry run writes nothing, not even an empty ledger
        try
        {
            return StoreLock.Acquire(full);
        }
        catch (StoreLockException e)
        {
            throw new BackupException(e.Failure == StoreLockFailure.InUse ? $"the connector is running ({e.Message})" : e.Message);
        }
    }

    /// <summary>Copies, fsyncs and renames into place; returns the OS lock on the new ledger file (taken before the rename) or null.</summary>
    private static StoreLock? ReplaceFile(string source, string target, bool isLedger, IWorkStep step)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        string tmp = target + ".restore-tmp";
        SqliteFiles.CopyFile(source, tmp, step); // flushed to disk before the rename
        // The rename gives the path a new inode: lock it first, so a connector starting now is still refused.
        var newLock = isLedger ? StoreLock.Acquire(tmp, legacyLockFile: false) : null;
        try
        {
            foreach (string suffix in new[] { "-wal", "-shm", "-journal" })
                if (File.Exists(target + suffix)) File.Delete(target + suffix);
            File.Move(tmp, target, overwrite: true);
            string integrity = SqliteFiles.IntegrityCheck(target);
            if (integrity != "ok") throw new BackupException($"{target}: integrity_check after restore: {integrity}");
            return newLock;
        }
        catch
        {
            newLock?.Dispose();
            throw;
        }
    }
}
