using System.Text.Json;
using System.Text.Json.Serialization;
using M2M.Core.Routing;
using M2M.Server.Configuration;

namespace M2M.Server.Routing;

/// <summary>
/// Peers and static routes changed at runtime (admin API, CLI), kept in <c>network.json</c> beside the ledger
/// (0600, replaced atomically). The YAML is the seed; on start the store is applied on top of it: a peer or
/// route the store names (by id / prefix) replaces the YAML's, and one removed at runtime stays removed.
/// </summary>
public sealed class NetworkStore
{
    public const string FileName = "network.json";

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly object _lock = new();
    private readonly Data _data;

    private NetworkStore(string path, Data data)
    {
        Path = path;
        _data = data;
    }

    public string Path { get; }

    /// <summary>Reads the store (an absent file is an empty store); a file that is not ours is refused with its path named.</summary>
    public static NetworkStore Open(string path)
    {
        if (!File.Exists(path)) return new NetworkStore(path, new Data());
        try
        {
            var data = JsonSerializer.Deserialize<Data>(File.ReadAllText(path), Json) ?? new Data();
            if (data.Version != Data.CurrentVersion) throw new InvalidOperationException($"{path}: version {data.Version} is not {Data.CurrentVersion}");
            return new NetworkStore(path, data);
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"{path} is not a valid network store ({e.Message}); restore it from a backup or move it away to start from the YAML", e);
        }
    }

    /// <summary>The YAML's peers and routes with the runtime changes applied.</summary>
    public ConnectorSettings Apply(ConnectorSettings settings, ConfigLoader loader)
    {
        lock (_lock)
        {
            var peers = settings.Peers.Where(p => !_data.RemovedPeers.Contains(p.Id) && !_data.Peers.ContainsKey(p.Id)).ToList();
            var errors = new List<string>();
            foreach (var (id, section) in _data.Peers.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                try
                {
                    peers.Add(loader.ParseRuntimePeer(section, settings));
                }
                catch (ConfigException e)
                {
                    errors.AddRange(e.Errors.Select(x => $"{Path}: peer '{id}': {x}"));
                }
            }
            var routes = settings.Routes.Where(r => !_data.RemovedRoutes.Contains(r.Prefix) && _data.Routes.All(s => s.Prefix != r.Prefix)).ToList();
            foreach (var r in _data.Routes)
            {
                try
                {
                    routes.Add(loader.ParseRuntimeRoute(r, peers.Select(p => p.Id), settings.NodeId));
                }
                catch (ConfigException e)
                {
                    errors.AddRange(e.Errors.Select(x => $"{Path}: route '{r.Prefix}': {x}"));
                }
            }
            if (errors.Count > 0) throw new ConfigException(errors);
            return settings with { Peers = peers, Routes = routes };
        }
    }

    public void PutPeer(PeerSection section)
    {
        lock (_lock)
        {
            _data.Peers[section.Id!] = section;
            _data.RemovedPeers.Remove(section.Id!);
            Save();
        }
    }

    public void RemovePeer(string peerId)
    {
        lock (_lock)
        {
            _data.Peers.Remove(peerId);
            _data.RemovedPeers.Add(peerId);
            // A route through a removed peer goes with it.
            _data.Routes.RemoveAll(r => r.NextHop == peerId);
            Save();
        }
    }

    public void PutRoute(RouteSection route)
    {
        lock (_lock)
        {
            _data.Routes.RemoveAll(r => r.Prefix == route.Prefix);
            _data.Routes.Add(route);
            _data.RemovedRoutes.Remove(route.Prefix!);
            Save();
        }
    }

    public void RemoveRoute(string prefix)
    {
        lock (_lock)
        {
            _data.Routes.RemoveAll(r => r.Prefix == prefix);
            _data.RemovedRoutes.Add(prefix);
            Save();
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
