using M2M.Core.Routing;
using M2M.Core.Switch;

namespace M2M.Server.Configuration;

/// <summary>routing: CCP timers (ilp-connector's routeBroadcastInterval and routeExpiry).</summary>
public sealed class RoutingSection
{
    public string? BroadcastIntervalMs { get; set; }
    public string? RouteExpiryMs { get; set; }
}

/// <summary>CCP route exchange: how often we send our routes (also as a heartbeat) and how long a peer keeps them.</summary>
public sealed record RoutingSettings
{
    /// <summary>ilp-connector's default routeBroadcastInterval.</summary>
    public TimeSpan BroadcastInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The hold-down time we announce: a peer drops our routes if it hears nothing for this long (ilp-connector: 45 s).</summary>
    public TimeSpan RouteExpiry { get; init; } = TimeSpan.FromSeconds(45);
}

public sealed partial class ConfigLoader
{
    private RoutingSettings BuildRouting(RoutingSection? r)
    {
        var d = new RoutingSettings();
        if (r is null) return d;
        var interval = Millis("routing.broadcastIntervalMs", r.BroadcastIntervalMs, d.BroadcastInterval, 100, 3_600_000);
        var expiry = Millis("routing.routeExpiryMs", r.RouteExpiryMs, d.RouteExpiry, 200, 4_294_967_295);
        if (expiry <= interval)
            Error("routing.routeExpiryMs", r.RouteExpiryMs ?? ((ulong)d.RouteExpiry.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture),
                $"more than routing.broadcastIntervalMs ({interval.TotalMilliseconds:F0}): peers would drop our routes between two broadcasts");
        return new RoutingSettings { BroadcastInterval = interval, RouteExpiry = expiry };
    }

    private bool? Bool(string key, string? value)
    {
        if (value is null) return null;
        switch (value.Trim().ToLowerInvariant())
        {
            case "true": return true;
            case "false": return false;
            default:
                Error(key, value, "true or false");
                return null;
        }
    }

    /// <summary>peers[].sendRoutes / receiveRoutes: explicit, else ilp-connector's default (routes are exchanged except with children).</summary>
    private (bool Send, bool Receive) RouteSwitches(PeerSection p, string key, PeerRelation relation) =>
        (Bool($"{key}.sendRoutes", p.SendRoutes) ?? RoutingPeer.DefaultExchange(relation),
         Bool($"{key}.receiveRoutes", p.ReceiveRoutes) ?? RoutingPeer.DefaultExchange(relation));
}

public sealed partial class ConfigLoader
{
    /// <summary>Validates a peer given at runtime (admin API, network.json) by the YAML's rules; throws <see cref="ConfigException"/> with every problem.</summary>
    public PeerSettings ParseRuntimePeer(PeerSection section, ConnectorSettings current)
    {
        _errors.Clear();
        _warnings.Clear();
        var peer = BuildPeer(section, "peer", current);
        if (peer is not null && peer.Id == current.NodeId) Error("peer.id", peer.Id, "a peer id different from our own nodeId");
        if (_errors.Count > 0 || peer is null) throw new ConfigException([.. _errors]);
        return peer;
    }

    /// <summary>Validates a static route given at runtime: its next hop must be one of <paramref name="peerIds"/> or our node id.</summary>
    public Route ParseRuntimeRoute(RouteSection section, IEnumerable<string> peerIds, string nodeId)
    {
        _errors.Clear();
        var peers = peerIds.Select(id => new PeerSettings { Id = id }).ToList();
        var route = BuildRoutes([section], peers, nodeId).Single();
        if (_errors.Count > 0) throw new ConfigException([.. _errors.Select(e => e.Replace("routes[0]", "route", StringComparison.Ordinal))]);
        return route;
    }
}
