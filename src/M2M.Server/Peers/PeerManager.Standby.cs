using M2M.Btp;
using Microsoft.Extensions.Logging;

namespace M2M.Server.Peers;

/// <summary>
/// Blue-green without a fight over the upstream: a connector started with `run --standby` does not
/// log in to its outgoing peers (two instances logging in as the same peer knock each other off,
/// since the upstream keeps one live session per peer). `POST /admin/promote` starts the outgoing
/// clients; `POST /admin/demote` stops them: new packets for those peers are no longer forwarded
/// (T01), packets already sent to them get their replies (waited for up to the max hold time), then
/// the sessions close cleanly. Inbound peers are served in both roles.
/// </summary>
public sealed partial class PeerManager
{
    private readonly SemaphoreSlim _roleGate = new(1, 1);

    /// <summary>True while outgoing peers are not logged in. Set before <see cref="StartOutgoing"/> to start on standby.</summary>
    public bool Standby { get; set; }

    /// <summary>Outgoing peer ids and whether each is connected now.</summary>
    public IReadOnlyList<(string Id, bool Connected)> OutgoingPeers =>
        _peers.Values.Where(p => p.IsOutgoing).Select(p => (p.Id, IsConnected(p.Id))).ToList();

    /// <summary>Logs in to the outgoing peers; waits up to <paramref name="connectTimeout"/> for them. False when already active.</summary>
    public async Task<bool> PromoteAsync(TimeSpan connectTimeout, CancellationToken ct)
    {
        await _roleGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (!Standby) return false;
            Standby = false;
            if (_handler is not null) StartClients();
            LogPromoted(_clients.Count);
        }
        finally
        {
            _roleGate.Release();
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(connectTimeout);
        try
        {
            while (OutgoingPeers.Any(p => !p.Connected)) await Task.Delay(20, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // Reported by the caller from OutgoingPeers: the clients keep reconnecting.
        }
        return true;
    }

    /// <summary>Stops forwarding to the outgoing peers, waits for their in-flight replies (up to <paramref name="drainTimeout"/>), then closes them. False when already on standby.</summary>
    public async Task<bool> DemoteAsync(TimeSpan drainTimeout, CancellationToken ct)
    {
        await _roleGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (Standby) return false;
            Standby = true;
            var outgoing = _peers.Values.Where(p => p.IsOutgoing).Select(p => p.Id).ToHashSet(StringComparer.Ordinal);
            // 1. No new packet goes to them: the switch sees them as not connected, and a reconnect is not attached.
            var clients = _clients.Values.Where(c => outgoing.Contains(c.PeerId)).ToList();
            foreach (var client in clients) client.Connected -= Attach;
            var sessions = new List<BtpSession>();
            foreach (var id in outgoing)
                if (_links.TryRemove(id, out var link)) sessions.Add(link.Session);
            // 2. What was already sent gets its reply (the sessions stay open meanwhile).
            var deadline = DateTime.UtcNow + drainTimeout;
            while (sessions.Any(s => s.IsOpen && s.PendingRequestCount > 0) && DateTime.UtcNow < deadline)
                await Task.Delay(10, ct).ConfigureAwait(false);
            int unanswered = sessions.Where(s => s.IsOpen).Sum(s => s.PendingRequestCount);
            // 3. Stop reconnecting and close cleanly.
            foreach (var client in clients)
            {
                await client.DisposeAsync().ConfigureAwait(false);
                _clients.TryRemove(client.PeerId, out _);
            }
            foreach (var session in sessions) await session.CloseAsync().ConfigureAwait(false);
            LogDemoted(sessions.Count, unanswered);
            return true;
        }
        finally
        {
            _roleGate.Release();
        }
    }

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "Standby: not logging in to {Count} outgoing peers until POST /admin/promote")]
    private partial void LogStandby(int count);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Information, Message = "Promoted: logging in to {Count} outgoing peers")]
    private partial void LogPromoted(int count);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Information, Message = "Demoted: {Count} outgoing peer sessions closed after their in-flight packets ({Unanswered} still unanswered at the deadline); on standby")]
    private partial void LogDemoted(int count, int unanswered);
}
