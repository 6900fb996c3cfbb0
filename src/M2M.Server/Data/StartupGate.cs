using M2M.Core.Ledger;
using M2M.Core.Migrations;
using M2M.Ledger.Postgres;
using M2M.Migrations;
using M2M.Server.Configuration;

namespace M2M.Server.Data;

/// <summary>
/// Runs before any store is opened for writing. Reads every store's recorded migrations with
/// read-only connections and either refuses to start (data from a newer release with a contract
/// schema, an edited or deleted migration: nothing is written, the message names both versions
/// and the restore command), or, when an existing store is about to be migrated forward, first
/// writes and verifies a full backup under data/backups/pre-migration-*. The stores then apply
/// their migrations when they open.
/// </summary>
public static class StartupGate
{
    /// <summary>Returns the pre-migration backup directory when one was made; throws <see cref="LedgerUnavailableException"/> to refuse.</summary>
    public static async Task<string?> CheckAsync(ConnectorSettings settings, Action<string> log, CancellationToken ct = default)
    {
        var pending = new List<string>();
        if (settings.Ledger.Backend == LedgerBackend.Sqlite) RefuseUnwritable(settings.Ledger.Path);
        try
        {
            foreach (var store in DataStores.SqliteStores(settings))
            {
                if (store.Migrations is null || !File.Exists(store.Path)) continue;
                var todo = SqliteMigrator.Pending(store.Path, store.Migrations);
                if (todo.Count > 0) pending.Add($"{store.Name} {Describe(todo)}");
            }
            if (await PostgresPendingAsync(settings).ConfigureAwait(false) is { Count: > 0 } pg) pending.Add($"ledger (postgres) {Describe(pg)}");
        }
        catch (Microsoft.Data.Sqlite.SqliteException e)
        {
            throw new LedgerUnavailableException($"a data store could not be read before start: {e.Message}", e);
        }
        catch (DataSchemaException e)
        {
            string? latest = DataStores.LatestBackup(settings);
            throw new LedgerUnavailableException(e.Message + (latest is null ? "" : $" Latest backup found: {latest}"), e);
        }
        if (pending.Count == 0) return null;
        return await BackupBeforeMigratingAsync(settings, pending, log, ct).ConfigureAwait(false);
    }

    /// <summary>A read-only ledger directory or file: one clear line now, not T00 for every packet after "ready".</summary>
    private static void RefuseUnwritable(string ledgerPath)
    {
        try
        {
            StoreLock.CheckWritable(ledgerPath);
        }
        catch (StoreLockException e)
        {
            throw new LedgerUnavailableException($"ledger {e.Message}", e);
        }
    }

    /// <summary>
    /// Why this release cannot open the configured data (a newer contract schema, an edited or
    /// deleted migration), or null when it can (possibly after migrating it forward). Read-only:
    /// safe beside a running connector. `m2m-connector data check` and rollback.sh use it.
    /// </summary>
    public static async Task<string?> IncompatibilityAsync(ConnectorSettings settings)
    {
        try
        {
            foreach (var store in DataStores.SqliteStores(settings))
                if (store.Migrations is not null && File.Exists(store.Path)) SqliteMigrator.Pending(store.Path, store.Migrations);
            await PostgresPendingAsync(settings).ConfigureAwait(false);
            return null;
        }
        catch (DataSchemaException e)
        {
            return e.Message;
        }
    }

    private static string Describe(IReadOnlyList<Migration> todo) => $"{todo[0].Version - 1} -> {todo[^1].Version}";

    private static async Task<IReadOnlyList<Migration>?> PostgresPendingAsync(ConnectorSettings settings)
    {
        if (DataStores.PostgresMigrations(settings) is not { } set) return null;
        SchemaState state;
        try
        {
            state = await PostgresLedger.ReadSchemaStateAsync(settings.Ledger.PostgresUrl!, connectTimeoutSeconds: settings.Ledger.PostgresConnectTimeoutSeconds).ConfigureAwait(false);
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or System.Net.Sockets.SocketException or TimeoutException)
        {
            return null; // the ledger's own open reports an unreachable database
        }
        var todo = MigrationPlanner.Plan(set, state, "postgres");
        return state.Version == 0 ? null : todo; // a new database needs no backup
    }

    private static async Task<string> BackupBeforeMigratingAsync(ConnectorSettings settings, List<string> pending, Action<string> log, CancellationToken ct)
    {
        string dir = Path.Combine(DataStores.BackupsDirectory(settings), $"pre-migration-{DateTimeOffset.UtcNow:yyyyMMdd'T'HHmmss'Z'}");
        log($"data migration needed ({string.Join(", ", pending)}): writing a verified backup to {dir} first");
        try
        {
            await BackupService.CreateAsync(settings, dir, log).ConfigureAwait(false);
            var problems = await BackupService.VerifyAsync(dir, log, ct, settings.Ledger.PostgresUrl).ConfigureAwait(false);
            if (problems.Count > 0) throw new BackupException(string.Join("; ", problems));
        }
        catch (BackupException e)
        {
            throw new LedgerUnavailableException($"the pre-migration backup to {dir} failed, nothing migrated: {e.Message}");
        }
        log($"pre-migration backup verified: {dir} (roll back with: m2m-connector restore --from {dir} --force)");
        return dir;
    }
}
