using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using M2M.Btp;
using M2M.Core.Switch;
using M2M.Server.Configuration;
using Microsoft.Extensions.Logging;

namespace M2M.Server.Peers;

/// <summary>
/// Owns every peer connection: authenticates inbound BTP sessions, runs the outbound clients,
/// and gives the switch the live link of a peer. A peer has at most one live session: a new
/// authenticated session replaces the old one.
/// </summary>
public sealed partial class PeerManager : IPeerLinks, IAsyncDisposable
{
    private readonly ConnectorSettings _settings;
    private readonly ConcurrentDictionary<string, PeerSettings> _peers;
    private readonly ConcurrentDictionary<string, PeerDescriptor> _descriptors;
    private readonly ConcurrentDictionary<string, byte[]> _inboundSecrets;
    private readonly ConcurrentDictionary<string, BtpPeerLink> _links = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, BtpClient> _clients = new(StringComparer.Ordinal);
    private IBtpMessageHandler? _handler;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _log;

    public PeerManager(ConnectorSettings settings, ILoggerFactory loggers)
    {
        _settings = settings;
        _loggers = loggers;
        _log = loggers.CreateLogger("M2M.Peers");
        _peers = new(settings.Peers.ToDictionary(p => p.Id, StringComparer.Ordinal), StringComparer.Ordinal);
        _descriptors = new(settings.Peers.ToDictionary(p => p.Id, p => p.ToDescriptor(), StringComparer.Ordinal), StringComparer.Ordinal);
        _inboundSecrets = new(settings.Peers
            .Where(p => !p.IsOutgoing && !string.IsNullOrEmpty(p.AuthToken))
            .ToDictionary(p => p.Id, p => Encoding.UTF8.GetBytes(p.AuthToken!), StringComparer.Ordinal), StringComparer.Ordinal);
    }

    public BtpLimits Limits => new() { MaxFrameBytes = _settings.MaxBtpFrameBytes, AuthTimeout = _settings.BtpAuthTimeout };

    /// <summary>The peers now configured (YAML, plus and minus runtime changes), ordered by id.</summary>
    public IReadOnlyCollection<PeerSettings> Configured => [.. _peers.Values.OrderBy(p => p.Id, StringComparer.Ordinal)];

    public PeerSettings? Settings(string peerId) => _peers.GetValueOrDefault(peerId);

    public bool IsConnected(string peerId) => _links.TryGetValue(peerId, out var link) && link.Session.IsOpen;

    public int ConnectedCount => _peers.Keys.Count(IsConnected);

    public bool TryGetLink(string peerId, out IPeerLink? link)
    {
        if (_links.TryGetValue(peerId, out var l) && l.Session.IsOpen)
        {
            link = l;
            return true;
        }
        link = null;
        return false;
    }

    /// <summary>The peer's live BTP session, or null.</summary>
    public BtpSession? SessionOf(string peerId) => _links.TryGetValue(peerId, out var l) && l.Session.IsOpen ? l.Session : null;

    /// <summary>The switch's view of a configured peer (built once: this is on every packet's path).</summary>
    public PeerDescriptor? Describe(string peerId) => _descriptors.GetValueOrDefault(peerId);

    /// <summary>The inbound peer an auth_username names (unescaped), or null: the auth limiter's key.</summary>
    public string? InboundUser(string username)
    {
        username = Unescape(username);
        return _inboundSecrets.ContainsKey(username) ? username : null;
    }

    /// <summary>BTP auth: auth_username names the peer, auth_token must equal its secret (constant-time).</summary>
    /// <remarks>ilp-plugin-btp sends the URL's userinfo still percent-encoded, so both forms are accepted.</remarks>
    public string? Authenticate(string username, string token)
    {
        username = Unescape(username);
        if (username.Length == 0) return AuthenticateByToken(token);
        if (!_inboundSecrets.TryGetValue(username, out var expected))
        {
            LogAuthRefused($"(unknown, {username.Length} chars)", "unknown peer or no secret configured"); // never echo it: it may be a misplaced secret
            return null;
        }
        bool matches = CryptographicOperations.FixedTimeEquals(expected, Encoding.UTF8.GetBytes(token))
            || (token.Contains('%') && CryptographicOperations.FixedTimeEquals(expected, Encoding.UTF8.GetBytes(Unescape(token))));
        if (!matches)
        {
            LogAuthRefused(Shorten(username), "wrong token");
            return null;
        }
        return username;
    }

    /// <summary>
    /// An empty auth_username (<c>btp+ws://:secret@host</c>, common in JS configs): the token alone names the peer,
    /// accepted when exactly one inbound peer has it. Every secret is compared (constant time each), no early exit.
    /// </summary>
    private string? AuthenticateByToken(string token)
    {
        var given = Encoding.UTF8.GetBytes(token);
        var unescaped = token.Contains('%') ? Encoding.UTF8.GetBytes(Unescape(token)) : null;
        string? found = null;
        int matches = 0;
        foreach (var (id, secret) in _inboundSecrets)
        {
            if (CryptographicOperations.FixedTimeEquals(secret, given) | (unescaped is not null && CryptographicOperations.FixedTimeEquals(secret, unescaped)))
            {
                found = id;
                matches++;
            }
        }
        if (matches == 1) return found;
        LogAuthRefused("(empty)", matches == 0 ? "no inbound peer has this token" : $"{matches} inbound peers share this token; send the peer id as the username");
        return null;
    }

    private static string Unescape(string s)
    {
        if (!s.Contains('%')) return s;
        try
        {
            return Uri.UnescapeDataString(s);
        }
        catch (UriFormatException)
        {
            return s;
        }
    }

    // Usernames come from unauthenticated clients: keep the log line bounded.
    private static string Shorten(string s) => s.Length <= 64 ? s : s[..64] + "…";

    /// <summary>Raised with the peer id when a session is attached (also when it replaces an older one).</summary>
    public event Action<string>? Connected;

    /// <summary>Raised with the peer id when its live session is gone.</summary>
    public event Action<string>? Disconnected;

    /// <summary>Registers an authenticated session (inbound or outbound) as the peer's live link.</summary>
    public void Attach(BtpSession session)
    {
        var link = new BtpPeerLink(session);
        BtpPeerLink? replaced = null;
        _links.AddOrUpdate(session.PeerId, link, (_, old) =>
        {
            replaced = old;
            return link;
        });
        LogPeerConnected(session.PeerId);
        Connected?.Invoke(session.PeerId);
        if (replaced is not null && !ReferenceEquals(replaced.Session, session))
            _ = replaced.Session.CloseAsync().AsTask();
        _ = session.Completion.ContinueWith(_ => Detach(link), TaskScheduler.Default);
    }

    private void Detach(BtpPeerLink link)
    {
        if (!_links.TryRemove(new KeyValuePair<string, BtpPeerLink>(link.PeerId, link))) return;
        LogPeerDisconnected(link.PeerId);
        Disconnected?.Invoke(link.PeerId);
    }

    /// <summary>Starts one reconnecting client per outgoing peer (none while on standby: see PeerManager.Standby.cs).</summary>
    public void StartOutgoing(IBtpMessageHandler handler)
    {
        _handler = handler;
        if (Standby)
        {
            LogStandby(_peers.Values.Count(p => p.IsOutgoing));
            return;
        }
        StartClients();
    }

    private void StartClients()
    {
        foreach (var peer in _peers.Values.Where(p => p.IsOutgoing)) StartClient(peer);
    }

    private void StartClient(PeerSettings peer)
    {
        var client = new BtpClient(peer.Id, peer.Url!, _settings.NodeId, peer.AuthToken ?? "", _handler!, Limits, _loggers.CreateLogger("M2M.Btp.Client"));
        client.Connected += Attach;
        _clients[peer.Id] = client;
        client.Start();
    }

    /// <summary>
    /// Adds or replaces a peer at runtime. Other peers' sessions are untouched; this peer's session is closed
    /// (and its client restarted) only when how it connects changed (URL, token, relation or asset).
    /// </summary>
    public async Task AddOrUpdateAsync(PeerSettings peer)
    {
        var old = _peers.GetValueOrDefault(peer.Id);
        _peers[peer.Id] = peer;
        _descriptors[peer.Id] = peer.ToDescriptor();
        if (!peer.IsOutgoing && !string.IsNullOrEmpty(peer.AuthToken)) _inboundSecrets[peer.Id] = Encoding.UTF8.GetBytes(peer.AuthToken);
        else _inboundSecrets.TryRemove(peer.Id, out _);
        bool reconnect = old is not null && (old.Url != peer.Url || old.AuthToken != peer.AuthToken || old.Relation != peer.Relation
            || old.AssetCode != peer.AssetCode || old.AssetScale != peer.AssetScale);
        if (old is null || reconnect) await DisconnectAsync(peer.Id).ConfigureAwait(false);
        if (peer.IsOutgoing && _handler is not null && !Standby && !_clients.ContainsKey(peer.Id)) StartClient(peer);
    }

    /// <summary>Forgets a peer at runtime: its client stops and its session closes; nobody else is touched.</summary>
    public async Task RemoveAsync(string peerId)
    {
        _peers.TryRemove(peerId, out _);
        _inboundSecrets.TryRemove(peerId, out _);
        await DisconnectAsync(peerId).ConfigureAwait(false);
        _descriptors.TryRemove(peerId, out _);
    }

    private async Task DisconnectAsync(string peerId)
    {
        if (_clients.TryRemove(peerId, out var client)) await client.DisposeAsync().ConfigureAwait(false);
        if (_links.TryGetValue(peerId, out var link)) await link.Session.CloseAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Closes every inbound session (peers that logged in to us) once each has its requests answered,
    /// with 1001 "going away", so a peer behind a load balancer reconnects to another node: the end of
    /// a drain (this node then refuses new BTP connections), and a blue-green switch once the load
    /// balancer sends new connections to the other colour (<c>POST /admin/release-inbound</c>).
    /// Outgoing sessions stay: settlement and the last packets' replies may still use them.
    /// Returns how many sessions it closed.
    /// </summary>
    public async Task<int> CloseInboundAsync(string reason = "draining")
    {
        var inbound = _links.Values.Where(l => Settings(l.PeerId) is not { IsOutgoing: true }).ToList();
        await Task.WhenAll(inbound.Select(l => l.Session.CloseAnsweredAsync(System.Net.WebSockets.WebSocketCloseStatus.EndpointUnavailable, reason).AsTask())).ConfigureAwait(false);
        return inbound.Count;
    }

    /// <summary>Closes every session cleanly (BTP peers see a normal WebSocket close).</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients.Values) await client.DisposeAsync().ConfigureAwait(false);
        _clients.Clear();
        foreach (var link in _links.Values) await link.Session.CloseAsync().ConfigureAwait(false);
        _links.Clear();
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Peer {PeerId} connected")]
    private partial void LogPeerConnected(string peerId);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "Peer {PeerId} disconnected")]
    private partial void LogPeerDisconnected(string peerId);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "BTP auth refused for username '{Username}': {Reason}")]
    private partial void LogAuthRefused(string username, string reason);
}
