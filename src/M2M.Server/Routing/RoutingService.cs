using M2M.Core.Ilp;
using M2M.Core.Routing;
using M2M.Core.Switch;
using M2M.Server.Configuration;
using M2M.Server.Peers;
using Microsoft.Extensions.Logging;

namespace M2M.Server.Routing;

/// <summary>Where our ILP address came from (shown by /health and /admin/routes).</summary>
public enum AddressSource
{
    /// <summary>ilpAddress in the configuration.</summary>
    Configured,
    /// <summary>Our parent's ILDCP answer.</summary>
    Parent,
    /// <summary>Nothing said it: the g.&lt;nodeId&gt; stand-in, which no network routes to.</summary>
    Default,
}

/// <summary>
/// Owns the live routing state: the <see cref="RouteBook"/> (CCP receivers and senders, configured and local
/// routes), the immutable <see cref="RoutingTable"/> the switch reads (swapped on every change), ILDCP toward our
/// parent, and a 100 ms loop that sends route controls and updates to connected peers and expires stale routes.
/// Every RouteBook call is made under one lock; packets never wait for a peer here.
/// </summary>
public sealed partial class RoutingService : IRouteProtocolHandler, IAsyncDisposable
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(100);
    /// <summary>ilp-connector's MINIMUM_UPDATE_INTERVAL between two updates to one peer.</summary>
    private static readonly TimeSpan MinUpdateInterval = TimeSpan.FromMilliseconds(150);
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MessageTimeout = TimeSpan.FromSeconds(10);
    /// <summary>Route updates a peer may send: a burst of 100, then 20 per second (ilp-connector sends at most ~7/s).</summary>
    private const double UpdateBurst = 100, UpdatesPerSecond = 20;

    private readonly object _lock = new();
    private readonly RouteBook _book;
    private readonly ConnectorSettings _settings;
    private readonly SwitchOptions _options;
    private readonly PeerManager _peers;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly Dictionary<string, ControlState> _controls = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SendState> _sends = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (double Tokens, DateTimeOffset At, DateTimeOffset LastLogged)> _floods = new(StringComparer.Ordinal);
    private readonly HashSet<string> _reportedDrops = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private volatile RoutingTable _table;
    private long _published = -1;

    public RoutingService(ConnectorSettings settings, SwitchOptions options, PeerManager peers, TimeProvider time, ILoggerFactory loggers)
    {
        _settings = settings;
        _options = options;
        _peers = peers;
        _time = time;
        _log = loggers.CreateLogger("M2M.Routing");
        _book = new RouteBook(settings.NodeId, options.IlpAddress);
        foreach (var p in settings.Peers) _book.SetPeer(new RoutingPeer(p.Id, p.Relation, p.SendRoutes, p.ReceiveRoutes));
        _book.SetConfiguredRoutes(settings.Routes);
        AddressSource = settings.IlpAddressIsDefault ? AddressSource.Default : AddressSource.Configured;
        _table = _book.BuildTable();
        _published = _book.Version;
        peers.Connected += OnConnected;
        peers.Disconnected += OnDisconnected;
    }

    /// <summary>The switch's table; replaced (never mutated) when routes change.</summary>
    public RoutingTable Table => _table;

    public string IlpAddress => _options.IlpAddress;

    public AddressSource AddressSource { get; private set; }

    private volatile string? _lastIldcpFailure;

    /// <summary>
    /// Why our address is not a real one, for /health: null when it came from ilpAddress or from our parent;
    /// otherwise the g.&lt;nodeId&gt; stand-in is in use and this says what is missing.
    /// </summary>
    public string? AddressWarning
    {
        get
        {
            if (AddressSource != AddressSource.Default) return null;
            string address = _options.IlpAddress;
            if (Parent is not { } parent)
                return $"no ILP address: ilpAddress is not configured and no peer has relation parent to ask by ILDCP; running as {address}, which no network routes to";
            string last = _lastIldcpFailure is { } failure ? $" (last attempt: {failure})" : "";
            return $"no ILP address yet: waiting for parent '{parent}' to answer ILDCP{last}; running as {address} until then";
        }
    }

    /// <summary>
    /// The first parent (by id) among the peers now configured, YAML or added at runtime (admin API, `peers add
    /// --relation parent`): the one asked for our address by ILDCP.
    /// </summary>
    public string? Parent => _peers.Configured.Where(p => p.Relation == PeerRelation.Parent).Select(p => p.Id).FirstOrDefault();

    public void Start()
    {
        if (AddressSource == AddressSource.Default && Parent is null)
            LogNoAddress(_options.IlpAddress);
        _loop = Task.Run(() => LoopAsync(_stop.Token));
    }

    // ---- peers coming and going ----

    private void OnConnected(string peerId)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            _book.PeerConnected(peerId);
            if (_book.Peer(peerId)?.ReceiveRoutes == true) _controls[peerId] = new ControlState { Next = now };
            _sends.Remove(peerId);
            Publish();
        }
        if (peerId == Parent) _ = Task.Run(() => AskAddressAsync(peerId));
    }

    private void OnDisconnected(string peerId)
    {
        lock (_lock)
        {
            int routes = _book.ReceiverStatus(peerId)?.Routes ?? 0;
            _book.PeerDisconnected(peerId);
            _controls.Remove(peerId);
            _sends.Remove(peerId);
            _reportedDrops.RemoveWhere(k => k.StartsWith(peerId + "|", StringComparison.Ordinal));
            if (routes > 0) LogWithdrawn(peerId, routes);
            Publish();
        }
    }

    // ---- CCP messages from peers (called by the switch's PeerProtocolStep) ----

    public IlpReply HandleControl(PeerDescriptor source, CcpRouteControl control)
    {
        lock (_lock)
        {
            EnsureConnected(source.Id);
            var outcome = _book.HandleControl(source.Id, control);
            if (!outcome.Accepted) return Refuse(source.Id, "route control", outcome.Error!);
            _sends.Remove(source.Id); // answer promptly, even with nothing new
            WakeControl(source.Id);
            return Ccp.Accepted();
        }
    }

    public IlpReply HandleUpdate(PeerDescriptor source, CcpRouteUpdate update)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            if (!TakeUpdateToken(source.Id, now))
                return _options.Reject(RejectReason.RouteUpdatesTooFast, $"route updates from '{source.Id}' arrive faster than {UpdatesPerSecond}/s");
            EnsureConnected(source.Id);
            var outcome = _book.HandleUpdate(source.Id, update, now, reason =>
            {
                if (_reportedDrops.Add(source.Id + "|" + reason)) LogRouteDropped(source.Id, reason);
            });
            if (!outcome.Accepted) return Refuse(source.Id, "route update", outcome.Error!);
            if (outcome.Gap)
            {
                LogGap(source.Id, update.FromEpoch, _book.ReceiverStatus(source.Id)?.Epoch ?? 0);
                _controls[source.Id] = new ControlState { Next = now };
            }
            WakeControl(source.Id);
            Publish();
            return Ccp.Accepted();
        }
    }

    public void Malformed(PeerDescriptor source, string destination, string error) => LogMalformed(source.Id, destination, error);

    /// <summary>A peer speaks CCP before our connect hook ran (its first frame raced the attach): treat it as connected.</summary>
    private void EnsureConnected(string peerId)
    {
        var peer = _book.Peer(peerId);
        if (peer is null) return;
        bool known = (!peer.SendRoutes || _book.SenderStatus(peerId) is not null) && (!peer.ReceiveRoutes || _book.ReceiverStatus(peerId) is not null);
        if (!known && _peers.IsConnected(peerId)) _book.PeerConnected(peerId);
    }

    /// <summary>A peer that declined our route control speaks CCP after all: ask again.</summary>
    private void WakeControl(string peerId)
    {
        if (_controls.TryGetValue(peerId, out var c) && c.Declined)
        {
            c.Declined = false;
            c.Next = _time.GetUtcNow();
        }
    }

    private IlpReject Refuse(string peerId, string what, string error)
    {
        LogRefused(what, peerId, error);
        return _options.Reject(RejectReason.RouteUpdateRefused, error);
    }

    private bool TakeUpdateToken(string peerId, DateTimeOffset now)
    {
        var (tokens, at, logged) = _floods.TryGetValue(peerId, out var f) ? f : (UpdateBurst, now, default);
        tokens = Math.Min(UpdateBurst, tokens + (now - at).TotalSeconds * UpdatesPerSecond);
        bool ok = tokens >= 1;
        if (ok) tokens -= 1;
        else if (now - logged > TimeSpan.FromSeconds(10))
        {
            LogFlood(peerId, UpdatesPerSecond);
            logged = now;
        }
        _floods[peerId] = (tokens, now, logged);
        return ok;
    }

    // ---- static routes and peers at runtime ----

    public void SetConfiguredRoutes(IEnumerable<Route> routes)
    {
        lock (_lock)
        {
            _book.SetConfiguredRoutes(routes);
            Publish();
        }
    }

    public void SetPeer(PeerSettings peer)
    {
        lock (_lock)
        {
            _book.SetPeer(new RoutingPeer(peer.Id, peer.Relation, peer.SendRoutes, peer.ReceiveRoutes));
            Publish();
        }
    }

    public void RemovePeer(string peerId)
    {
        lock (_lock)
        {
            _book.RemovePeer(peerId);
            _controls.Remove(peerId);
            _sends.Remove(peerId);
            Publish();
        }
    }

    /// <summary>The view behind GET /admin/routes.</summary>
    public object Snapshot()
    {
        lock (_lock)
        {
            return new
            {
                ilpAddress = _options.IlpAddress,
                addressSource = AddressSource.ToString().ToLowerInvariant(),
                routingTableId = _book.TableId,
                currentEpoch = _book.CurrentEpoch,
                routes = _book.LocalRoutes.OrderBy(r => r.Prefix, StringComparer.Ordinal).Select(r => new
                {
                    prefix = r.Prefix,
                    nextHop = r.NextHop.Length == 0 ? null : r.NextHop,
                    origin = r.Origin.ToString().ToLowerInvariant(),
                    path = r.Path,
                }),
                configured = _book.ConfiguredRoutes.Select(r => new { prefix = r.Prefix, nextHop = r.NextHop, priority = r.Priority }),
                peers = _book.Peers.OrderBy(p => p.Id, StringComparer.Ordinal).Select(p => new
                {
                    id = p.Id,
                    relation = p.Relation.ToString().ToLowerInvariant(),
                    sendRoutes = p.SendRoutes,
                    receiveRoutes = p.ReceiveRoutes,
                    send = _book.SenderStatus(p.Id) is { } s ? new { mode = s.Mode.ToString().ToLowerInvariant(), epoch = s.Epoch } : null,
                    receive = _book.ReceiverStatus(p.Id) is { } r ? new { routingTableId = r.TableId, epoch = r.Epoch, routes = r.Routes, expiresAt = r.Expiry == default ? (DateTimeOffset?)null : r.Expiry } : null,
                }),
            };
        }
    }

    /// <summary>Raised with the old and the new table after each swap, under the routing lock: handlers must only hand it off (the Explorer queues it).</summary>
    public event Action<RoutingTable, RoutingTable>? TableChanged;

    /// <summary>Swaps in a new switch table if the book changed. Caller holds the lock.</summary>
    private void Publish()
    {
        if (_book.Version == _published) return;
        var old = _table;
        _table = _book.BuildTable();
        _published = _book.Version;
        TableChanged?.Invoke(old, _table);
    }

    // ---- the loop: controls, updates, expiry ----

    private async Task LoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(Tick, _time, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                RunOnce();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogLoopFailed(e.Message);
            }
        }
    }

    private void RunOnce()
    {
        var now = _time.GetUtcNow();
        var controls = new List<(string Peer, CcpRouteControl Control)>();
        var updates = new List<(string Peer, CcpRouteUpdate Update)>();
        lock (_lock)
        {
            _book.ExpireRoutes(now, (peer, count) => LogExpired(peer, count));
            Publish();
            foreach (var (peer, state) in _controls)
            {
                if (state.InFlight || state.Declined || state.Next > now || _book.ControlFor(peer) is not { } control) continue;
                state.InFlight = true;
                controls.Add((peer, control));
            }
            uint holdDown = (uint)Math.Min(uint.MaxValue, _settings.Routing.RouteExpiry.TotalMilliseconds);
            foreach (var peer in _book.Senders)
            {
                var s = _sends.TryGetValue(peer, out var existing) ? existing : _sends[peer] = new SendState();
                if (s.InFlight || now < s.NotBefore) continue;
                if (_book.UpdateFor(peer, now, _settings.Routing.BroadcastInterval, holdDown) is not { } update) continue;
                s.InFlight = true;
                updates.Add((peer, update));
            }
        }
        foreach (var (peer, control) in controls) _ = SendControlAsync(peer, control);
        foreach (var (peer, update) in updates) _ = SendUpdateAsync(peer, update);
    }

    private async Task SendControlAsync(string peerId, CcpRouteControl control)
    {
        var reply = await SendAsync(peerId, Ccp.ControlPrepare(control, _time.GetUtcNow())).ConfigureAwait(false);
        lock (_lock)
        {
            if (!_controls.TryGetValue(peerId, out var state)) return;
            state.InFlight = false;
            switch (reply)
            {
                case IlpFulfill f when f.Fulfillment.Span.SequenceEqual(Ildcp.Fulfillment.Span):
                    _controls.Remove(peerId);
                    LogControlSent(peerId, control.LastKnownEpoch);
                    break;
                case IlpReject r when r.Code.StartsWith('F'):
                    // Not a route speaker (a plain plugin), or a connector not ready for us: it will speak first when it is.
                    state.Declined = true;
                    LogControlDeclined(peerId, r.Code, r.Message);
                    break;
                default:
                    state.Next = _time.GetUtcNow() + RetryInterval;
                    break;
            }
        }
    }

    private async Task SendUpdateAsync(string peerId, CcpRouteUpdate update)
    {
        var reply = await SendAsync(peerId, Ccp.UpdatePrepare(update, _time.GetUtcNow())).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            if (!_sends.TryGetValue(peerId, out var s)) return;
            s.InFlight = false;
            if (reply is IlpFulfill)
            {
                _book.UpdateSent(peerId, update, now);
                s.NotBefore = now + MinUpdateInterval;
            }
            else
            {
                s.NotBefore = now + RetryInterval;
                if (reply is IlpReject r) LogUpdateRejected(peerId, r.Code, r.Message);
            }
        }
    }

    private async Task<IlpReply?> SendAsync(string peerId, IlpPrepare prepare)
    {
        if (!_peers.TryGetLink(peerId, out var link) || link is null) return null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(MessageTimeout);
        try
        {
            return await link.SendPrepareAsync(prepare, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is PeerUnavailableException or OperationCanceledException)
        {
            return null;
        }
    }

    // ---- ILDCP toward our parent ----

    private async Task AskAddressAsync(string parentId)
    {
        for (int attempt = 0; attempt < 5 && !_stop.IsCancellationRequested && _peers.IsConnected(parentId); attempt++)
        {
            var reply = await SendAsync(parentId, Ildcp.CreateRequest(_time.GetUtcNow() + TimeSpan.FromSeconds(30))).ConfigureAwait(false);
            if (reply is IlpFulfill f && Ildcp.TryParseResponse(f.Data.Span, out var response) && M2M.Core.Ilp.IlpAddress.Validate(response!.ClientAddress) is null)
            {
                ApplyAddress(parentId, response);
                return;
            }
            string why = reply switch
            {
                IlpReject r => $"{r.Code} {r.Message}",
                IlpFulfill => "an answer that is not an ILDCP response with a valid address",
                _ => "no answer",
            };
            _lastIldcpFailure = why;
            LogIldcpFailed(parentId, why);
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1 << attempt), _time, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void ApplyAddress(string parentId, IldcpResponse response)
    {
        lock (_lock)
        {
            if (AddressSource == AddressSource.Configured)
            {
                if (response.ClientAddress != _options.IlpAddress) LogAddressMismatch(parentId, response.ClientAddress, _options.IlpAddress);
                return;
            }
            if (response.ClientAddress == _options.IlpAddress && AddressSource == AddressSource.Parent) return;
            _options.IlpAddress = response.ClientAddress;
            AddressSource = AddressSource.Parent;
            _book.SetOwnAddress(response.ClientAddress);
            Publish();
            LogAddressLearned(response.ClientAddress, parentId, response.AssetCode, response.AssetScale);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _peers.Connected -= OnConnected;
        _peers.Disconnected -= OnDisconnected;
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null) await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }

    private sealed class ControlState
    {
        public DateTimeOffset Next { get; set; }
        public bool InFlight { get; set; }
        public bool Declined { get; set; }
    }

    private sealed class SendState
    {
        public bool InFlight { get; set; }
        public DateTimeOffset NotBefore { get; set; }
    }

    [LoggerMessage(EventId = 3101, Level = LogLevel.Warning, Message = "No ILP address: ilpAddress is not configured and no peer has relation parent to ask by ILDCP; running as {Address}, which no network routes to. Set ilpAddress or add a parent peer")]
    private partial void LogNoAddress(string address);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Information, Message = "ILP address {Address} from parent {Parent} by ILDCP (asset {AssetCode}, scale {AssetScale})")]
    private partial void LogAddressLearned(string address, string parent, string assetCode, byte assetScale);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Warning, Message = "Parent {Parent} says our address is {Told} but ilpAddress is configured as {Configured}; keeping {Configured}")]
    private partial void LogAddressMismatch(string parent, string told, string configured);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Warning, Message = "ILDCP to parent {Parent} failed: {Reason}")]
    private partial void LogIldcpFailed(string parent, string reason);

    [LoggerMessage(EventId = 3105, Level = LogLevel.Warning, Message = "Malformed {Destination} from peer {PeerId}: {Error}")]
    private partial void LogMalformed(string peerId, string destination, string error);

    [LoggerMessage(EventId = 3106, Level = LogLevel.Warning, Message = "Route from peer {PeerId} dropped: {Reason}")]
    private partial void LogRouteDropped(string peerId, string reason);

    [LoggerMessage(EventId = 3107, Level = LogLevel.Warning, Message = "Route updates from peer {PeerId} arrive faster than {PerSecond}/s: the excess is rejected with T05")]
    private partial void LogFlood(string peerId, double perSecond);

    [LoggerMessage(EventId = 3108, Level = LogLevel.Information, Message = "Peer {PeerId} disconnected: its {Count} routes are withdrawn")]
    private partial void LogWithdrawn(string peerId, int count);

    [LoggerMessage(EventId = 3109, Level = LogLevel.Warning, Message = "Routes of peer {PeerId} expired ({Count}): no update within its hold-down time")]
    private partial void LogExpired(string peerId, int count);

    [LoggerMessage(EventId = 3110, Level = LogLevel.Information, Message = "Route update from peer {PeerId} starts at epoch {From} but we have {Have}: asking it to resend")]
    private partial void LogGap(string peerId, uint from, uint have);

    [LoggerMessage(EventId = 3111, Level = LogLevel.Information, Message = "Refused {What} from peer {PeerId}: {Error}")]
    private partial void LogRefused(string what, string peerId, string error);

    [LoggerMessage(EventId = 3112, Level = LogLevel.Debug, Message = "Route control sent to peer {PeerId} (from epoch {Epoch})")]
    private partial void LogControlSent(string peerId, uint epoch);

    [LoggerMessage(EventId = 3113, Level = LogLevel.Information, Message = "Peer {PeerId} declined our route control ({Code} {Message}); we ask again when it speaks CCP")]
    private partial void LogControlDeclined(string peerId, string code, string message);

    [LoggerMessage(EventId = 3114, Level = LogLevel.Information, Message = "Peer {PeerId} rejected our route update ({Code} {Message}); retrying")]
    private partial void LogUpdateRejected(string peerId, string code, string message);

    [LoggerMessage(EventId = 3115, Level = LogLevel.Error, Message = "Routing loop failed: {Error}")]
    private partial void LogLoopFailed(string error);
}
