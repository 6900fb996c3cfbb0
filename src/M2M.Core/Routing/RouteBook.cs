using System.Security.Cryptography;
using System.Text;
using M2M.Core.Switch;

namespace M2M.Core.Routing;

/// <summary>Where a route in the local table came from.</summary>
public enum RouteOrigin
{
    /// <summary>Our own address (packets to it are ours to answer).</summary>
    Own,
    /// <summary>A static route (YAML <c>routes</c> or the admin API); it wins over everything else.</summary>
    Configured,
    /// <summary>The address ILDCP gives a child peer.</summary>
    Child,
    /// <summary>The default route (the allocation scheme, e.g. <c>g</c>) to our parent.</summary>
    Parent,
    /// <summary>Learned from a peer's CCP route update.</summary>
    Ccp,
}

/// <summary>A route of the local table: the next hop, the path the advertisement went through, its auth and origin.</summary>
public sealed record RouteEntry(string Prefix, string NextHop, IReadOnlyList<string> Path, ReadOnlyMemory<byte> Auth, RouteOrigin Origin);

/// <summary>What a peer's CCP settings are: the relation and whether we exchange routes with it.</summary>
public sealed record RoutingPeer(string Id, PeerRelation Relation, bool SendRoutes, bool ReceiveRoutes)
{
    /// <summary>ilp-connector's defaults: routes are exchanged with parents and peers, not with children.</summary>
    public static bool DefaultExchange(PeerRelation relation) => relation != PeerRelation.Child;
}

/// <summary>The outcome of a CCP message for the peer that sent it.</summary>
public readonly record struct CcpOutcome(bool Accepted, string? Error, bool TableChanged, bool Gap)
{
    public static CcpOutcome Ok(bool changed) => new(true, null, changed, false);
    public static CcpOutcome Refused(string error) => new(false, error, false, false);
}

/// <summary>
/// The routing brain, as ilp-connector 23's route broadcaster behaves (the de-facto CCP spec):
/// <list type="bullet">
/// <item>one receiver per peer we take routes from (its routing table id, epoch, hold-down expiry, routes);</item>
/// <item>the local table: per prefix the best route: configured routes win, then our own address, child
///   and default-parent routes, then learned routes by relation (child &gt; peer &gt; parent), then the shortest
///   path, then the lowest peer id;</item>
/// <item>the forwarding table we advertise: our path prepended, auth hashed, an epoch-numbered log of changes,
///   so a peer asks for "everything since epoch N";</item>
/// <item>one sender per peer we give routes to: its mode and the epoch it has; routes through that peer go to
///   it as withdrawn (split horizon), and a parent hears only routes to our children and ourselves.</item>
/// </list>
/// Loop prevention: a learned route whose path holds our address is dropped. Not thread-safe: the owner
/// serialises calls (the server's routing service holds one lock).
/// </summary>
public sealed class RouteBook
{
    /// <summary>ilp-connector's MAX_EPOCHS_PER_UPDATE.</summary>
    public const int MaxEpochsPerUpdate = 50;

    /// <summary>At most this many routes are kept from one peer; more is refused as a flood.</summary>
    public const int MaxRoutesPerPeer = 10_000;

    private readonly string _nodeId;
    private readonly byte[] _secret;
    private readonly Dictionary<string, RoutingPeer> _peers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Receiver> _receivers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Sender> _senders = new(StringComparer.Ordinal);
    private readonly Dictionary<string, RouteEntry> _local = new(StringComparer.Ordinal);
    private readonly Dictionary<string, LogEntry> _forwarding = new(StringComparer.Ordinal);
    private readonly List<LogEntry?> _log = [];
    private List<Route> _configured = [];

    public RouteBook(string nodeId, string ownAddress, byte[]? secret = null)
    {
        _nodeId = nodeId;
        OwnAddress = ownAddress;
        _secret = secret ?? RandomNumberGenerator.GetBytes(32);
        TableId = Guid.NewGuid();
        Recompute();
    }

    public string OwnAddress { get; private set; }

    /// <summary>The allocation scheme of our address (<c>g</c>, <c>test</c>, …): learned routes must be under it.</summary>
    public string GlobalPrefix => OwnAddress.Split('.')[0];

    /// <summary>The id of the table we advertise; a new one (after an address change) makes peers start over.</summary>
    public Guid TableId { get; private set; }

    /// <summary>Number of changes logged in the table we advertise.</summary>
    public uint CurrentEpoch => (uint)_log.Count;

    /// <summary>Incremented on every change of the local table (the switch's table must be rebuilt).</summary>
    public long Version { get; private set; }

    public IReadOnlyCollection<RouteEntry> LocalRoutes => _local.Values;

    public IReadOnlyCollection<Route> ConfiguredRoutes => _configured;

    public IEnumerable<RoutingPeer> Peers => _peers.Values;

    // ---- configuration ----

    public void SetOwnAddress(string address)
    {
        if (address == OwnAddress) return;
        OwnAddress = address;
        // Every advertised path starts with our address: start a new table so peers resynchronise from epoch 0.
        TableId = Guid.NewGuid();
        _log.Clear();
        _forwarding.Clear();
        foreach (var s in _senders.Values) s.LastKnownEpoch = 0;
        _local.Clear();
        Recompute();
    }

    public void SetConfiguredRoutes(IEnumerable<Route> routes)
    {
        _configured = [.. routes];
        Recompute();
    }

    /// <summary>Adds or changes a peer (its relation and route switches); a connected peer keeps its state.</summary>
    public void SetPeer(RoutingPeer peer)
    {
        _peers[peer.Id] = peer;
        if (!peer.ReceiveRoutes) _receivers.Remove(peer.Id);
        if (!peer.SendRoutes) _senders.Remove(peer.Id);
        Recompute();
    }

    public void RemovePeer(string peerId)
    {
        _peers.Remove(peerId);
        _receivers.Remove(peerId);
        _senders.Remove(peerId);
        Recompute();
    }

    public RoutingPeer? Peer(string peerId) => _peers.GetValueOrDefault(peerId);

    /// <summary>The peer's session is up: it may now exchange routes (per its switches).</summary>
    public void PeerConnected(string peerId)
    {
        if (!_peers.TryGetValue(peerId, out var peer)) return;
        if (peer.ReceiveRoutes) _receivers[peerId] = new Receiver();
        if (peer.SendRoutes) _senders[peerId] = new Sender();
        Recompute();
    }

    /// <summary>The peer's session is gone: every route learned from it is withdrawn.</summary>
    public void PeerDisconnected(string peerId)
    {
        _receivers.Remove(peerId);
        _senders.Remove(peerId);
        Recompute();
    }

    // ---- CCP messages ----

    /// <summary>Our route control request to <paramref name="peerId"/>: SYNC from what we have of its table.</summary>
    public CcpRouteControl? ControlFor(string peerId) =>
        _receivers.TryGetValue(peerId, out var r) ? new CcpRouteControl(CcpMode.Sync, r.TableId, r.Epoch, []) : null;

    /// <summary>A peer's <c>peer.route.control</c>: it wants our routes (SYNC) from its last known epoch, or none (IDLE).</summary>
    public CcpOutcome HandleControl(string peerId, CcpRouteControl control)
    {
        if (!_peers.ContainsKey(peerId)) return CcpOutcome.Refused($"peer '{peerId}' is not configured");
        if (!_senders.TryGetValue(peerId, out var sender))
            return CcpOutcome.Refused("we are configured not to send routes to you (sendRoutes: false)");
        sender.Mode = control.Mode;
        sender.LastKnownEpoch = control.LastKnownRoutingTableId == TableId ? Math.Min(control.LastKnownEpoch, CurrentEpoch) : 0;
        sender.Due = true;
        return CcpOutcome.Ok(false);
    }

    /// <summary>A peer's <c>peer.route.update</c>: applied if it continues what we have; a gap asks for a resync.</summary>
    public CcpOutcome HandleUpdate(string peerId, CcpRouteUpdate update, DateTimeOffset now, Action<string>? dropped = null)
    {
        if (!_peers.ContainsKey(peerId)) return CcpOutcome.Refused($"peer '{peerId}' is not configured");
        if (!_receivers.TryGetValue(peerId, out var r))
            return CcpOutcome.Refused("we are configured not to receive routes from you (receiveRoutes: false)");
        var expiry = now + TimeSpan.FromMilliseconds(update.HoldDownTimeMs);
        if (expiry > r.Expiry) r.Expiry = expiry;
        if (r.TableId != update.RoutingTableId)
        {
            // A new table (the speaker restarted): what we had from the old one no longer holds.
            r.TableId = update.RoutingTableId;
            r.Epoch = 0;
            r.Routes.Clear();
        }
        if (update.FromEpoch > r.Epoch) return new CcpOutcome(true, null, Recompute(), Gap: true);
        if (r.Epoch > update.ToEpoch) return CcpOutcome.Ok(false);
        foreach (var prefix in update.WithdrawnRoutes) r.Routes.Remove(prefix);
        foreach (var route in update.NewRoutes)
        {
            if (!route.Prefix.StartsWith(GlobalPrefix, StringComparison.Ordinal) || route.Prefix.Length <= GlobalPrefix.Length)
            {
                dropped?.Invoke($"route {route.Prefix} is outside our allocation scheme '{GlobalPrefix}'");
                continue;
            }
            if (route.Path.Contains(OwnAddress))
            {
                dropped?.Invoke($"route {route.Prefix} loops: its path [{string.Join(", ", route.Path)}] holds our address {OwnAddress}");
                r.Routes.Remove(route.Prefix);
                continue;
            }
            if (r.Routes.Count >= MaxRoutesPerPeer && !r.Routes.ContainsKey(route.Prefix))
            {
                dropped?.Invoke($"route {route.Prefix} is over the limit of {MaxRoutesPerPeer} routes per peer");
                continue;
            }
            r.Routes[route.Prefix] = new RouteEntry(route.Prefix, peerId, route.Path, route.Auth, RouteOrigin.Ccp);
        }
        r.Epoch = update.ToEpoch;
        return CcpOutcome.Ok(Recompute());
    }

    /// <summary>Drops the routes of peers that sent no update within their hold-down time; true if the table changed.</summary>
    public bool ExpireRoutes(DateTimeOffset now, Action<string, int>? expired = null)
    {
        bool any = false;
        foreach (var (peerId, r) in _receivers)
        {
            if (r.Routes.Count == 0 || r.Expiry == default || r.Expiry > now) continue;
            expired?.Invoke(peerId, r.Routes.Count);
            r.Routes.Clear();
            any = true;
        }
        return any && Recompute();
    }

    /// <summary>
    /// The update <paramref name="peerId"/> should get now, or null: when it is in SYNC mode and behind our
    /// epoch, or when <paramref name="heartbeat"/> has passed since the last one (an empty update keeps our
    /// routes alive past its hold-down time). Nothing changes until <see cref="UpdateSent"/>.
    /// </summary>
    public CcpRouteUpdate? UpdateFor(string peerId, DateTimeOffset now, TimeSpan heartbeat, uint holdDownMs)
    {
        if (!_senders.TryGetValue(peerId, out var s) || s.Mode != CcpMode.Sync) return null;
        if (s.LastKnownEpoch >= CurrentEpoch && !s.Due && now - s.LastUpdate < heartbeat) return null;
        var relation = _peers.TryGetValue(peerId, out var p) ? p.Relation : PeerRelation.Peer;
        uint from = s.LastKnownEpoch;
        int count = (int)Math.Min(MaxEpochsPerUpdate, CurrentEpoch - from);
        var newRoutes = new List<CcpRoute>();
        var withdrawn = new List<string>();
        for (int i = 0; i < count; i++)
        {
            var entry = _log[(int)from + i];
            if (entry is null) continue;
            var route = entry.Route;
            bool hide = route is not null && (route.NextHop == peerId
                || (relation == PeerRelation.Parent && RelationOf(route.NextHop) is PeerRelation.Peer or PeerRelation.Parent));
            if (route is null || hide) withdrawn.Add(entry.Prefix);
            else newRoutes.Add(new CcpRoute(entry.Prefix, route.Path, route.Auth, []));
        }
        return new CcpRouteUpdate(TableId, CurrentEpoch, from, from + (uint)count, holdDownMs, OwnAddress, newRoutes, withdrawn);
    }

    /// <summary>The peer fulfilled <paramref name="update"/>: it now has our table up to its toEpoch.</summary>
    public void UpdateSent(string peerId, CcpRouteUpdate update, DateTimeOffset now)
    {
        if (!_senders.TryGetValue(peerId, out var s) || update.RoutingTableId != TableId) return;
        s.LastKnownEpoch = Math.Max(s.LastKnownEpoch, update.ToEpoch);
        s.LastUpdate = now;
        s.Due = false;
    }

    /// <summary>Peers that take our routes (SYNC) and are connected.</summary>
    public IEnumerable<string> Senders => _senders.Where(s => s.Value.Mode == CcpMode.Sync).Select(s => s.Key);

    public (Guid TableId, uint Epoch, DateTimeOffset Expiry, int Routes)? ReceiverStatus(string peerId) =>
        _receivers.TryGetValue(peerId, out var r) ? (r.TableId, r.Epoch, r.Expiry, r.Routes.Count) : null;

    public (CcpMode Mode, uint Epoch)? SenderStatus(string peerId) =>
        _senders.TryGetValue(peerId, out var s) ? (s.Mode, s.LastKnownEpoch) : null;

    // ---- the tables ----

    /// <summary>The switch's immutable table: one route per prefix (our own address routes to our node id).</summary>
    public RoutingTable BuildTable() =>
        new(_local.Values.Select(e => new Route(e.Prefix, e.NextHop.Length == 0 ? _nodeId : e.NextHop, int.MaxValue)));

    private PeerRelation? RelationOf(string nextHop) =>
        nextHop.Length == 0 ? null : _peers.TryGetValue(nextHop, out var p) ? p.Relation : null;

    /// <summary>Recomputes the best route of every prefix and logs the changes; true if the local table changed.</summary>
    private bool Recompute()
    {
        var best = new Dictionary<string, RouteEntry>(StringComparer.Ordinal);
        // Learned routes, best first: relation child > peer > parent, then the shortest path, then the lowest peer id.
        foreach (var candidate in _receivers.Values.SelectMany(r => r.Routes.Values)
                     .OrderByDescending(e => RelationWeight(e.NextHop)).ThenBy(e => e.Path.Count).ThenBy(e => e.NextHop, StringComparer.Ordinal))
            best.TryAdd(candidate.Prefix, candidate);
        // Local routes beat learned ones; configured routes beat everything.
        var parent = _peers.Values.Where(p => p.Relation == PeerRelation.Parent).Select(p => p.Id).Order(StringComparer.Ordinal).FirstOrDefault();
        if (parent is not null) best[GlobalPrefix] = Local(GlobalPrefix, parent, RouteOrigin.Parent);
        foreach (var child in _peers.Values.Where(p => p.Relation == PeerRelation.Child))
        {
            string address = IldcpStep.ChildAddress(OwnAddress, child.Id);
            best[address] = Local(address, child.Id, RouteOrigin.Child);
        }
        best[OwnAddress] = Local(OwnAddress, "", RouteOrigin.Own);
        foreach (var route in _configured.GroupBy(r => r.Prefix).Select(g => g.OrderByDescending(r => r.Priority).First()))
            best[route.Prefix] = Local(route.Prefix, route.NextHop == _nodeId ? "" : route.NextHop, RouteOrigin.Configured);

        bool changed = false;
        foreach (var prefix in _local.Keys.Except(best.Keys).ToList())
        {
            _local.Remove(prefix);
            Advertise(prefix, null);
            changed = true;
        }
        foreach (var (prefix, entry) in best)
        {
            if (_local.TryGetValue(prefix, out var current) && current.NextHop == entry.NextHop && current.Origin == entry.Origin
                && current.Path.SequenceEqual(entry.Path))
                continue;
            bool hopChanged = current is null || current.NextHop != entry.NextHop;
            _local[prefix] = entry;
            if (hopChanged) Advertise(prefix, entry);
            changed = true;
        }
        if (changed) Version++;
        return changed;
    }

    private int RelationWeight(string peerId) => RelationOf(peerId) switch
    {
        PeerRelation.Child => 2,
        PeerRelation.Peer => 1,
        _ => 0,
    };

    private RouteEntry Local(string prefix, string nextHop, RouteOrigin origin) =>
        new(prefix, nextHop, [], HMACSHA256.HashData(_secret, Encoding.ASCII.GetBytes(prefix)), origin);

    /// <summary>Logs the route we advertise for <paramref name="prefix"/> (null: withdrawn) as a new epoch.</summary>
    private void Advertise(string prefix, RouteEntry? entry)
    {
        AdvertisedRoute? route = null;
        if (entry is not null && prefix.StartsWith(GlobalPrefix, StringComparison.Ordinal) && prefix != GlobalPrefix
            // Our children live under our address, which we advertise: no separate route for them.
            && !(prefix.StartsWith(OwnAddress + ".", StringComparison.Ordinal) && entry.Path.Count == 0))
            route = new AdvertisedRoute(entry.NextHop, [OwnAddress, .. entry.Path], SHA256.HashData(entry.Auth.Span));
        _forwarding.TryGetValue(prefix, out var current);
        if (current?.Route?.NextHop == route?.NextHop && (current is not null || route is null)) return;
        var logged = new LogEntry(prefix, route, CurrentEpoch);
        if (current is not null) _log[(int)current.Epoch] = null;
        _log.Add(logged);
        _forwarding[prefix] = logged;
    }

    private sealed record AdvertisedRoute(string NextHop, IReadOnlyList<string> Path, ReadOnlyMemory<byte> Auth);

    private sealed record LogEntry(string Prefix, AdvertisedRoute? Route, uint Epoch);

    private sealed class Receiver
    {
        public Guid TableId { get; set; } = Guid.Empty;
        public uint Epoch { get; set; }
        public DateTimeOffset Expiry { get; set; }
        public Dictionary<string, RouteEntry> Routes { get; } = new(StringComparer.Ordinal);
    }

    private sealed class Sender
    {
        public CcpMode Mode { get; set; } = CcpMode.Idle;
        public uint LastKnownEpoch { get; set; }
        public DateTimeOffset LastUpdate { get; set; }
        /// <summary>A route control arrived: answer it promptly even with nothing new (so the peer sees our table id).</summary>
        public bool Due { get; set; }
    }
}
