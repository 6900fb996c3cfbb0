using M2M.Core.Ledger;
using M2M.Core.Migrations;
using M2M.Core.Progress;
using M2M.Ledger.Postgres;
using M2M.Ledger.Sqlite;
using M2M.Migrations;
using M2M.Server.Configuration;

namespace M2M.Server.Data;

/// <summary>
/// `backup --full [--verify]`: a consistent online copy of every store while the connector runs.
/// SQLite stores are copied with VACUUM INTO (one read snapshot; the writer is never blocked and
/// the source is never written), the PostgreSQL ledger with `pg_dump -Fc` (one snapshot). The
/// manifest (versions, sizes, SHA-256) is written last. Verify re-hashes every file, restores
/// the copies into a temporary directory and runs integrity_check and the ledger invariants.
/// </summary>
public static class BackupService
{
    /// <summary>Pending transfers younger than this at backup time are not orphans (the sweeper runs every second).</summary>
    public static readonly TimeSpan VerifyOrphanGrace = TimeSpan.FromSeconds(10);

    public static async Task<BackupManifest> CreateAsync(ConnectorSettings settings, string outDir, Action<string> progress, CancellationToken ct = default, IWorkProgress? work = null)
    {
        work ??= new PlainProgress(progress);
        outDir = Path.GetFullPath(outDir);
        if (File.Exists(Path.Combine(outDir, BackupManifest.FileName))) throw new BackupException($"{outDir} already holds a backup: choose another --out directory");
        Directory.CreateDirectory(outDir);
        var created = DateTimeOffset.UtcNow;
        var entries = new List<BackupEntry>();
        if (settings.Ledger.Backend == LedgerBackend.Postgres) entries.Add(await DumpPostgresAsync(settings, outDir, progress, work, ct).ConfigureAwait(false));
        foreach (var store in DataStores.SqliteStores(settings))
        {
            if (!File.Exists(store.Path))
            {
                progress($"backup: {store.Name}: {store.Path} does not exist, skipped");
                continue;
            }
            long size = SizeWithWal(store.Path);
            progress($"backup: {store.Name}: copying {store.Path} ({size:N0} bytes with its WAL)");
            string file = store.Name + ".db";
            using (var step = work.Begin($"backup: {store.Name}: copy", size, WorkUnit.Bytes))
            {
                SqliteFiles.CopyOnline(store.Path, Path.Combine(outDir, file), step);
                step.Complete(new FileInfo(Path.Combine(outDir, file)).Length);
            }
            entries.Add(Describe(store, outDir, file, work));
        }
        var manifest = new BackupManifest
        {
            ToolVersion = ConnectorHost.Version, CreatedAt = created, NodeId = settings.NodeId,
            LedgerBackend = settings.Ledger.Backend.ConfigName(), Files = entries,
        };
        manifest.Write(outDir);
        progress($"backup: wrote {entries.Count} files and {BackupManifest.FileName} to {outDir}");
        return manifest;
    }

    /// <summary>The copy can be as large as the file plus its un-checkpointed WAL (an upper bound for the bar).</summary>
    private static long SizeWithWal(string path) =>
        new FileInfo(path).Length + (File.Exists(path + "-wal") ? new FileInfo(path + "-wal").Length : 0);

    private static BackupEntry Describe(DataStore store, string outDir, string file, IWorkProgress work)
    {
        string path = Path.Combine(outDir, file);
        var state = store.Migrations is null ? null : SqliteMigrator.ReadState(path);
        int version = state?.Version ?? (store.Name == DataStores.Wallets ? WalletSchemaVersion(path) : 0);
        return new BackupEntry
        {
            Store = store.Name, File = file, Kind = "sqlite", SchemaVersion = version, MinCompatibleSchema = state?.MinCompatible ?? 0,
            Bytes = new FileInfo(path).Length, Sha256 = Hash(path, $"backup: {store.Name}: sha256", work), SourcePath = store.Path,
        };
    }

    /// <summary>The wallet store's own version table (1 = the 1.0 layout without one); read without the wallet library.</summary>
    private static int WalletSchemaVersion(string path)
    {
        using var c = SqliteFiles.OpenReadOnly(path);
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'";
        if ((long)cmd.ExecuteScalar()! == 0) return 1;
        cmd.CommandText = "SELECT max(version) FROM schema_version";
        return cmd.ExecuteScalar() is long v ? (int)v : 0;
    }

    private static async Task<BackupEntry> DumpPostgresAsync(ConnectorSettings settings, string outDir, Action<string> progress, IWorkProgress work, CancellationToken ct)
    {
        const string file = "ledger.pgdump";
        progress("backup: ledger: pg_dump -Fc of the PostgreSQL ledger");
        string url = settings.Ledger.PostgresUrl!;
        var state = await PostgresLedger.ReadSchemaStateAsync(url, ct, settings.Ledger.PostgresConnectTimeoutSeconds).ConfigureAwait(false);
        string path = Path.Combine(outDir, file);
        using (var step = work.Begin("backup: ledger: pg_dump", 0, WorkUnit.Bytes))
        using (new Timer(_ => step.Report(File.Exists(path) ? new FileInfo(path).Length : 0), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1)))
        {
            await PgTools.RunAsync("pg_dump", url, ["-Fc", "--no-owner", "-f", path], ct).ConfigureAwait(false);
            step.Complete(new FileInfo(path).Length);
        }
        return new BackupEntry
        {
            Store = DataStores.Ledger, File = file, Kind = "pg_dump", SchemaVersion = state.Version, MinCompatibleSchema = state.MinCompatible,
            Bytes = new FileInfo(path).Length, Sha256 = Hash(path, "backup: ledger: sha256", work),
        };
    }

    /// <summary>Every problem found (empty = the backup is good). Never writes to <paramref name="dir"/>.</summary>
    /// <param name="postgresUrl">For a PostgreSQL ledger dump: a server where a scratch database may be created for the invariant check (else only `pg_restore --list`).</param>
    public static async Task<IReadOnlyList<string>> VerifyAsync(string dir, Action<string> progress, CancellationToken ct = default, string? postgresUrl = null, IWorkProgress? work = null)
    {
        work ??= new PlainProgress(progress);
        var manifest = BackupManifest.Read(dir);
        var problems = CheckHashes(dir, manifest, progress, work);
        if (problems.Count > 0) return problems;
        var scratch = Directory.CreateTempSubdirectory("m2m-verify-").FullName;
        try
        {
            foreach (var f in manifest.Files)
            {
                string copy = Path.Combine(scratch, f.File);
                using (var step = work.Begin($"verify: {f.Store}: copy to scratch", f.Bytes, WorkUnit.Bytes))
                {
                    SqliteFiles.CopyFile(Path.Combine(dir, f.File), copy, step);
                    step.Complete(f.Bytes);
                }
                if (f.Kind == "pg_dump")
                {
                    problems.AddRange(await VerifyPgDumpAsync(f, copy, postgresUrl, progress, ct).ConfigureAwait(false));
                    continue;
                }
                progress($"verify: {f.Store}: restored into {scratch}, PRAGMA integrity_check");
                string integrity;
                using (var step = work.Begin($"verify: {f.Store}: integrity_check", 0, WorkUnit.Bytes))
                {
                    integrity = SqliteFiles.IntegrityCheck(copy);
                    step.Complete(f.Bytes);
                }
                if (integrity != "ok") problems.Add($"{f.File}: integrity_check: {integrity}");
                else if (f.Store == DataStores.Ledger) problems.AddRange(await VerifyLedgerAsync(copy, manifest.CreatedAt, progress, work).ConfigureAwait(false));
            }
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
        return problems;
    }

    /// <summary>Size and SHA-256 of every file against the manifest (1 flipped byte anywhere is found).</summary>
    public static List<string> CheckHashes(string dir, BackupManifest manifest, Action<string> progress, IWorkProgress? work = null)
    {
        work ??= new PlainProgress(progress);
        var problems = new List<string>();
        foreach (var f in manifest.Files)
        {
            string path = Path.Combine(dir, f.File);
            if (!File.Exists(path)) { problems.Add($"{f.File}: missing"); continue; }
            long bytes = new FileInfo(path).Length;
            string sha = Hash(path, $"verify: {f.File}: sha256", work);
            progress($"verify: {f.File}: {bytes:N0} bytes, sha256 {sha[..16]}… {(sha == f.Sha256 && bytes == f.Bytes ? "ok" : "MISMATCH")}");
            if (bytes != f.Bytes) problems.Add($"{f.File}: size {bytes} differs from the manifest's {f.Bytes}");
            else if (sha != f.Sha256) problems.Add($"{f.File}: sha256 {sha} differs from the manifest's {f.Sha256} (the file was changed or corrupted)");
        }
        return problems;
    }

    /// <summary>`pg_restore --list`, then (given a server) a restore into a scratch database and the ledger invariants there.</summary>
    private static async Task<IReadOnlyList<string>> VerifyPgDumpAsync(BackupEntry f, string copy, string? postgresUrl, Action<string> progress, CancellationToken ct)
    {
        progress($"verify: {f.Store}: pg_restore --list");
        try
        {
            await PgTools.RunAsync("pg_restore", "Host=localhost", ["--list", copy], ct).ConfigureAwait(false);
        }
        catch (BackupException e)
        {
            return [$"{f.File}: {e.Message}"];
        }
        if (postgresUrl is null) return [];
        string scratch = $"m2m_verify_{Guid.NewGuid():N}";
        var admin = M2M.Ledger.Postgres.PostgresConnectionString.Parse(postgresUrl);
        admin.Pooling = false;
        await using var conn = new Npgsql.NpgsqlConnection(admin.ConnectionString);
        await conn.OpenAsync(ct).ConfigureAwait(false);
        await using (var create = new Npgsql.NpgsqlCommand($"CREATE DATABASE {scratch}", conn)) await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        try
        {
            var target = M2M.Ledger.Postgres.PostgresConnectionString.Parse(postgresUrl);
            target.Database = scratch;
            target.Pooling = false;
            progress($"verify: {f.Store}: restored into scratch database {scratch}");
            await PgTools.RunAsync("pg_restore", target.ConnectionString, ["--no-owner", "--single-transaction", "-d", scratch, copy], ct).ConfigureAwait(false);
            await using var ledger = await PostgresLedger.OpenAsync(target.ConnectionString, ct: ct).ConfigureAwait(false);
            var report = await LedgerVerifier.VerifyAsync(await ledger.ListAccountsAsync(ct).ConfigureAwait(false), ledger.ReadJournalAsync(ct), DateTimeOffset.UtcNow, TimeSpan.FromDays(3650)).ConfigureAwait(false);
            progress($"verify: ledger: {report.Accounts} accounts, {report.Transfers} transfers, {report.OpenPending} open pending, {report.Violations.Count} violations");
            return report.Violations.Select(v => $"ledger invariant: {v}").ToList();
        }
        catch (BackupException e)
        {
            return [$"{f.File}: {e.Message}"];
        }
        finally
        {
            Npgsql.NpgsqlConnection.ClearAllPools();
            await using var drop = new Npgsql.NpgsqlCommand($"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)", conn);
            await drop.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task<IReadOnlyList<string>> VerifyLedgerAsync(string copy, DateTimeOffset at, Action<string> progress, IWorkProgress work)
    {
        await using var snapshot = SqliteSnapshot.Open(copy);
        long total = SqliteFiles.RowCounts(copy).GetValueOrDefault("transfers");
        using var step = work.Begin("verify: ledger: invariants", total, WorkUnit.Items);
        var report = await LedgerVerifier.VerifyAsync(snapshot.Accounts(), Counted(snapshot.Journal(), step), at, VerifyOrphanGrace).ConfigureAwait(false);
        step.Complete(report.Transfers);
        progress($"verify: ledger: {report.Accounts} accounts, {report.Transfers} transfers, {report.OpenPending} open pending, {report.Violations.Count} violations");
        return report.Violations.Select(v => $"ledger invariant: {v}").ToList();
    }

    private static string Hash(string path, string name, IWorkProgress work)
    {
        long bytes = new FileInfo(path).Length;
        using var step = work.Begin(name, bytes, WorkUnit.Bytes);
        string sha = SqliteFiles.Sha256(path, step);
        step.Complete(bytes);
        return sha;
    }

    /// <summary>Passes the journal through, telling the step how many transfers were read.</summary>
    private static async IAsyncEnumerable<T> Counted<T>(IAsyncEnumerable<T> source, IWorkStep step)
    {
        long n = 0;
        await foreach (var item in source.ConfigureAwait(false))
        {
            if ((++n & 1023) == 0) step.Report(n);
            yield return item;
        }
    }
}
