using System.Text.Json;
using System.Text.Json.Serialization;
using M2M.Core.Routing;
using M2M.Server.Configuration;
using Npgsql;

namespace M2M.Server.Routing;

/// <summary>
/// Peers and static routes changed at runtime (admin API, CLI). The YAML is the seed; on start the store is
/// applied on top of it: a peer or route the store names (by id / prefix) replaces the YAML's, and one removed at
/// runtime stays removed. Kept in <c>network.json</c> beside the ledger (0600, replaced atomically) with the SQLite
/// ledger; with the PostgreSQL ledger in the table <c>m2m_network</c> of the ledger's database (one JSON document and
/// a version counter), so every node of a cluster sees the same peers and routes: a change is a read-modify-write
/// under the row lock, and each node polls the version (<see cref="RefreshAsync"/>) and applies what changed.
/// </summary>
public sealed class NetworkStore : IAsyncDisposable
{
    public const string FileName = "network.json";
    public const string TableName = "m2m_network";

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly NpgsqlDataSource? _db;
    private readonly string _nodeId;
    private Data _data;

    private NetworkStore(string path, Data data, NpgsqlDataSource? db, long version, string nodeId)
    {
        Path = path;
        _data = data;
        _db = db;
        Version = version;
        _nodeId = nodeId;
    }

    /// <summary>network.json's path (with PostgreSQL: the file imported on first start, if any).</summary>
    public string Path { get; }

    /// <summary>True when the state lives in PostgreSQL and is shared by every node on that database.</summary>
    public bool Shared => _db is not null;

    /// <summary>Where it is kept, for log lines and errors.</summary>
    public string Location => _db is null ? Path : $"PostgreSQL table {TableName}";

    /// <summary>The stored version (PostgreSQL: bumped by every change on any node; file: 0).</summary>
    public long Version { get; private set; }

    /// <summary>Set when this start imported network.json into PostgreSQL (the file is renamed to .imported).</summary>
    public string? ImportedFrom { get; private set; }

    /// <summary>Reads the file (an absent file is an empty store); a file that is not ours is refused with its path named.</summary>
    public static NetworkStore Open(string path) => new(path, ReadFile(path) ?? new Data(), null, 0, "");

    /// <summary>
    /// The store for these settings: the file beside the ledger, or with the PostgreSQL ledger the shared table
    /// (created if missing; on its first creation network.json, if present, is imported and renamed).
    /// </summary>
    public static async Task<NetworkStore> OpenAsync(ConnectorSettings settings, CancellationToken ct)
    {
        string path = M2M.Server.Accounting.ConnectorSettlement.SiblingPath(settings, FileName);
        if (settings.Ledger.Backend != LedgerBackend.Postgres) return Open(path);
        // The ledger's connect timeout, not a number of our own; a change answered 200 stays applied after a database
        // crash (synchronous_commit on).
        var db = M2M.Server.Accounting.ConnectorSettlement.LedgerDatabase(settings, 10, "m2m-network");
        try
        {
            await using var conn = await db.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            // One node at a time creates the table and imports: concurrent CREATE TABLE IF NOT EXISTS can collide.
            await ExecAsync(conn, tx, $"""
                SELECT pg_advisory_xact_lock(hashtextextended('m2m-network', 0));
                CREATE TABLE IF NOT EXISTS {TableName} (
                    id         INT PRIMARY KEY CHECK (id = 1),
                    version    BIGINT NOT NULL,
                    document   TEXT NOT NULL,
                    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    updated_by TEXT NOT NULL
                );
                """, ct).ConfigureAwait(false);
            var row = await ReadRowAsync(conn, tx, forUpdate: false, ct).ConfigureAwait(false);
            string? imported = null;
            if (row is null)
            {
                var data = ReadFile(path) ?? new Data();
                if (File.Exists(path)) imported = path;
                row = (1, data);
                await using var insert = new NpgsqlCommand($"INSERT INTO {TableName} (id, version, document, updated_by) VALUES (1, 1, $1, $2)", conn, tx);
                insert.Parameters.Add(new NpgsqlParameter { Value = JsonSerializer.Serialize(data, Json) });
                insert.Parameters.Add(new NpgsqlParameter { Value = settings.NodeId });
                await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            await tx.CommitAsync(ct).ConfigureAwait(false);
            // Renamed only once the import committed, so a failed start imports it again next time.
            if (imported is not null) File.Move(imported, imported + ".imported", overwrite: true);
            return new NetworkStore(path, row.Value.Data, db, row.Value.Version, settings.NodeId) { ImportedFrom = imported };
        }
        catch
        {
            await db.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>PostgreSQL: reads the shared version and, if another node changed it, the document. False when nothing changed (and always for the file).</summary>
    public async Task<bool> RefreshAsync(CancellationToken ct)
    {
        if (_db is null) return false;
        await using var conn = await _db.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using (var cmd = new NpgsqlCommand($"SELECT version FROM {TableName} WHERE id = 1", conn))
        {
            if (await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is long v && v == Version) return false;
        }
        var row = await ReadRowAsync(conn, null, forUpdate: false, ct).ConfigureAwait(false);
        if (row is null) return false;
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (row.Value.Version <= Version) return false;
            (Version, _data) = row.Value;
            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The YAML's peers and routes with the runtime changes applied.</summary>
    public ConnectorSettings Apply(ConnectorSettings settings, ConfigLoader loader)
    {
        var data = _data;
        var peers = settings.Peers.Where(p => !data.RemovedPeers.Contains(p.Id) && !data.Peers.ContainsKey(p.Id)).ToList();
        var errors = new List<string>();
        foreach (var (id, section) in data.Peers.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            try
            {
                peers.Add(loader.ParseRuntimePeer(section, settings));
            }
            catch (ConfigException e)
            {
                errors.AddRange(e.Errors.Select(x => $"{Location}: peer '{id}': {x}"));
            }
        }
        var routes = settings.Routes.Where(r => !data.RemovedRoutes.Contains(r.Prefix) && data.Routes.All(s => s.Prefix != r.Prefix)).ToList();
        foreach (var r in data.Routes)
        {
            try
            {
                routes.Add(loader.ParseRuntimeRoute(r, peers.Select(p => p.Id), settings.NodeId));
            }
            catch (ConfigException e)
            {
                errors.AddRange(e.Errors.Select(x => $"{Location}: route '{r.Prefix}': {x}"));
            }
        }
        if (errors.Count > 0) throw new ConfigException(errors);
        return settings with { Peers = peers, Routes = routes };
    }

    public Task PutPeerAsync(PeerSection section, CancellationToken ct) => MutateAsync(d =>
    {
        d.Peers[section.Id!] = section;
        d.RemovedPeers.Remove(section.Id!);
    }, ct);

    public Task RemovePeerAsync(string peerId, CancellationToken ct) => MutateAsync(d =>
    {
        d.Peers.Remove(peerId);
        d.RemovedPeers.Add(peerId);
        // A route through a removed peer goes with it.
        d.Routes.RemoveAll(r => r.NextHop == peerId);
    }, ct);

    public Task PutRouteAsync(RouteSection route, CancellationToken ct) => MutateAsync(d =>
    {
        d.Routes.RemoveAll(r => r.Prefix == route.Prefix);
        d.Routes.Add(route);
        d.RemovedRoutes.Remove(route.Prefix!);
    }, ct);

    public Task RemoveRouteAsync(string prefix, CancellationToken ct) => MutateAsync(d =>
    {
        d.Routes.RemoveAll(r => r.Prefix == prefix);
        d.RemovedRoutes.Add(prefix);
    }, ct);

    /// <summary>
    /// File: change and save. PostgreSQL: read the current document under the row lock (so a change another node
    /// made meanwhile is kept), change it, write it back with the version bumped, in one transaction.
    /// </summary>
    private async Task MutateAsync(Action<Data> change, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_db is null)
            {
                change(_data);
                Save();
                return;
            }
            await using var conn = await _db.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            var (version, data) = await ReadRowAsync(conn, tx, forUpdate: true, ct).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"{TableName} has no row; restart the connector to recreate it");
            change(data);
            await using (var update = new NpgsqlCommand($"UPDATE {TableName} SET version = $1, document = $2, updated_at = now(), updated_by = $3 WHERE id = 1", conn, tx))
            {
                update.Parameters.Add(new NpgsqlParameter { Value = version + 1 });
                update.Parameters.Add(new NpgsqlParameter { Value = JsonSerializer.Serialize(data, Json) });
                update.Parameters.Add(new NpgsqlParameter { Value = _nodeId });
                await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            await tx.CommitAsync(ct).ConfigureAwait(false);
            (Version, _data) = (version + 1, data);
        }
        finally
        {
            _gate.Release();
        }
    }

    private static async Task<(long Version, Data Data)?> ReadRowAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, bool forUpdate, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"SELECT version, document FROM {TableName} WHERE id = 1{(forUpdate ? " FOR UPDATE" : "")}", conn, tx);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false)) return null;
        long version = r.GetInt64(0);
        return (version, Parse(r.GetString(1), $"{TableName} (version {version})"));
    }

    private static async Task ExecAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static Data? ReadFile(string path) => File.Exists(path) ? Parse(File.ReadAllText(path), path) : null;

    private static Data Parse(string json, string where)
    {
        try
        {
            var data = JsonSerializer.Deserialize<Data>(json, Json) ?? new Data();
            if (data.Version != Data.CurrentVersion) throw new InvalidOperationException($"{where}: version {data.Version} is not {Data.CurrentVersion}");
            return data;
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"{where} is not a valid network store ({e.Message}); restore it from a backup or move it away to start from the YAML", e);
        }
    }

    /// <summary>Write-then-rename with fsync, 0600 (it may hold BTP tokens), in a 0700 directory.</summary>
    private void Save()
    {
        string dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path))!;
        if (!Directory.Exists(dir))
        {
            Directory.CreateDirectory(dir);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        string temp = Path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var file = new FileStream(temp, options))
        {
            JsonSerializer.Serialize(file, _data, Json);
            file.Flush(flushToDisk: true);
        }
        File.Move(temp, Path, overwrite: true);
    }

    public async ValueTask DisposeAsync()
    {
        if (_db is not null) await _db.DisposeAsync().ConfigureAwait(false);
        _gate.Dispose();
    }

    private sealed class Data
    {
        public const int CurrentVersion = 1;
        public int Version { get; set; } = CurrentVersion;
        public Dictionary<string, PeerSection> Peers { get; set; } = new(StringComparer.Ordinal);
        public HashSet<string> RemovedPeers { get; set; } = new(StringComparer.Ordinal);
        public List<RouteSection> Routes { get; set; } = [];
        public HashSet<string> RemovedRoutes { get; set; } = new(StringComparer.Ordinal);
    }
}
