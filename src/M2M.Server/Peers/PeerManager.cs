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
    private readonly Dictionary<string, PeerDescriptor> _descriptors;
    private readonly IReadOnlyDictionary<string, byte[]> _inboundSecrets;
    private readonly ConcurrentDictionary<string, BtpPeerLink> _links = new(StringComparer.Ordinal);
    private readonly List<BtpClient> _clients = [];
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _log;

    public PeerManager(ConnectorSettings settings, ILoggerFactory loggers)
    {
        _settings = settings;
        _loggers = loggers;
        _log = loggers.CreateLogger("M2M.Peers");
        _descriptors = settings.Peers.ToDictionary(p => p.Id, p => p.ToDescriptor(), StringComparer.Ordinal);
        _inboundSecrets = settings.Peers
            .Where(p => !p.IsOutgoing && !string.IsNullOrEmpty(p.AuthToken))
            .ToDictionary(p => p.Id, p => Encoding.UTF8.GetBytes(p.AuthToken!), StringComparer.Ordinal);
    }

    public BtpLimits Limits => new() { MaxFrameBytes = _settings.MaxBtpFrameBytes, AuthTimeout = _settings.BtpAuthTimeout };

    public IReadOnlyCollection<PeerSettings> Configured => _settings.Peers;

    public bool IsConnected(string peerId) => _links.TryGetValue(peerId, out var link) && link.Session.IsOpen;

    public int ConnectedCount => _settings.Peers.Count(p => IsConnected(p.Id));

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

    /// <summary>BTP auth: auth_username names the peer, auth_token must equal its secret (constant-time).</summary>
    /// <remarks>ilp-plugin-btp sends the URL's userinfo still percent-encoded, so both forms are accepted.</remarks>
    public string? Authenticate(string username, string token)
    {
        username = Unescape(username);
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

    /// <summary>A peer's link came up (true) or went away (false); for the Explorer's event stream.</summary>
    public event Action<string, bool>? PeerChanged;

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
        PeerChanged?.Invoke(session.PeerId, true);
        if (replaced is not null && !ReferenceEquals(replaced.Session, session))
            _ = replaced.Session.CloseAsync().AsTask();
        _ = session.Completion.ContinueWith(_ => Detach(link), TaskScheduler.Default);
    }

    private void Detach(BtpPeerLink link)
    {
        if (!_links.TryRemove(new KeyValuePair<string, BtpPeerLink>(link.PeerId, link))) return;
        LogPeerDisconnected(link.PeerId);
        PeerChanged?.Invoke(link.PeerId, false);
    }

    /// <summary>Starts one reconnecting client per outgoing peer.</summary>
    public void StartOutgoing(IBtpMessageHandler handler)
    {
        foreach (var peer in _settings.Peers.Where(p => p.IsOutgoing))
        {
            var client = new BtpClient(peer.Id, peer.Url!, _settings.NodeId, peer.AuthToken ?? "", handler, Limits, _loggers.CreateLogger("M2M.Btp.Client"));
            client.Connected += Attach;
            _clients.Add(client);
            client.Start();
        }
    }

    /// <summary>Closes every session cleanly (BTP peers see a normal WebSocket close).</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients) await client.DisposeAsync().ConfigureAwait(false);
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
