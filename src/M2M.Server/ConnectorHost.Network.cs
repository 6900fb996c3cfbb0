using M2M.Core.Ledger;
using M2M.Core.Routing;
using M2M.Server.Configuration;
using M2M.Server.Routing;
using Microsoft.Extensions.Logging;

namespace M2M.Server;

/// <summary>
/// Peers and static routes changed at runtime: validated as the YAML is, kept in network.json (or with the
/// PostgreSQL ledger in the shared table m2m_network), applied without a restart. On PostgreSQL every node polls
/// the table's version and applies changes made on another node (<see cref="NetworkPollInterval"/>).
/// </summary>
public sealed partial class ConnectorHost
{
    /// <summary>How often a node of a PostgreSQL cluster looks for peer and route changes made on another node.</summary>
    public static readonly TimeSpan NetworkPollInterval = TimeSpan.FromSeconds(2);

    private readonly object _networkLock = new();
    private readonly SemaphoreSlim _networkApply = new(1, 1);
    private List<Route> _staticRoutes = [];
    private ConnectorSettings _seedSettings = null!;
    private Task? _networkPoll;

    /// <summary>The runtime changes (network.json or the shared PostgreSQL table), applied over the YAML on every start.</summary>
    public NetworkStore Network { get; private set; } = null!;

    public IReadOnlyList<Route> StaticRoutes
    {
        get
        {
            lock (_networkLock) return [.. _staticRoutes];
        }
    }

    /// <summary>Called first in the constructor: the effective settings are the YAML's plus the stored runtime changes.</summary>
    private ConnectorSettings ApplyNetworkStore(ConnectorSettings settings, NetworkStore network)
    {
        _seedSettings = settings;
        Network = network;
        var effective = Network.Apply(settings, ConfigLoader.FromProcess());
        _staticRoutes = [.. effective.Routes];
        return effective;
    }

    /// <summary>Adds or replaces a peer: its ledger account exists (credit limit applied) before it can connect.</summary>
    public async Task<PeerSettings> PutPeerAsync(PeerSection section, CancellationToken ct)
    {
        var peer = ConfigLoader.FromProcess().ParseRuntimePeer(section, _settings);
        await Network.PutPeerAsync(section, ct).ConfigureAwait(false);
        await ApplyPeerAsync(peer, ct).ConfigureAwait(false);
        return peer;
    }

    private async Task ApplyPeerAsync(PeerSettings peer, CancellationToken ct)
    {
        var accounts = new[] { PeerAccounts.PeerAccount(peer.Id, peer.AssetCode, peer.AssetScale, peer.CreditLimit), PeerAccounts.ClearingAccount(peer.AssetCode, peer.AssetScale) };
        var results = await Accounting.Ledger.CreateAccountsAsync(accounts, ct).ConfigureAwait(false);
        if (results[0] == CreateAccountResult.ExistsWithDifferentFields)
            await Accounting.Ledger.SetDebitLimitAsync(accounts[0].Id, accounts[0].DebitLimit, ct).ConfigureAwait(false);
        await Peers.AddOrUpdateAsync(peer).ConfigureAwait(false);
        Routing.SetPeer(peer);
    }

    /// <summary>Removes a peer; refused (the reason is returned) while it has a balance or packets in flight, unless forced.</summary>
    public async Task<string?> RemovePeerAsync(string peerId, bool force, CancellationToken ct)
    {
        if (Peers.Settings(peerId) is not { } peer) return $"no peer '{peerId}'";
        var account = await Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId(peerId, PeerAccounts.LedgerFor(peer.AssetCode, peer.AssetScale)), ct).ConfigureAwait(false);
        if (!force && account is not null && (account.PostedBalance != 0 || account.DebitsPending != 0 || account.CreditsPending != 0))
            return $"peer '{peerId}' has a balance of {account.PostedBalance} and {account.DebitsPending + account.CreditsPending} in flight; settle it first or remove with force";
        await Network.RemovePeerAsync(peerId, ct).ConfigureAwait(false);
        await ForgetPeerAsync(peerId).ConfigureAwait(false);
        return null;
    }

    private async Task ForgetPeerAsync(string peerId)
    {
        lock (_networkLock) _staticRoutes.RemoveAll(r => r.NextHop == peerId);
        Routing.RemovePeer(peerId);
        Routing.SetConfiguredRoutes(StaticRoutes);
        await Peers.RemoveAsync(peerId).ConfigureAwait(false);
    }

    public async Task<Route> PutRouteAsync(RouteSection section, CancellationToken ct)
    {
        var route = ConfigLoader.FromProcess().ParseRuntimeRoute(section, Peers.Configured.Select(p => p.Id), _settings.NodeId);
        await Network.PutRouteAsync(section, ct).ConfigureAwait(false);
        lock (_networkLock)
        {
            _staticRoutes.RemoveAll(r => r.Prefix == route.Prefix);
            _staticRoutes.Add(route);
        }
        Routing.SetConfiguredRoutes(StaticRoutes);
        return route;
    }

    public async Task<bool> RemoveRouteAsync(string prefix, CancellationToken ct)
    {
        lock (_networkLock)
        {
            if (_staticRoutes.All(r => r.Prefix != prefix)) return false;
        }
        await Network.RemoveRouteAsync(prefix, ct).ConfigureAwait(false);
        lock (_networkLock) _staticRoutes.RemoveAll(r => r.Prefix == prefix);
        Routing.SetConfiguredRoutes(StaticRoutes);
        return true;
    }

    /// <summary>PostgreSQL: polls the shared table and applies what another node changed; nothing to do for the file.</summary>
    private void StartNetworkPoll()
    {
        if (!Network.Shared) return;
        LogNetworkShared(Network.Location, Network.Version, NetworkPollInterval.TotalSeconds);
        if (Network.ImportedFrom is { } file) LogNetworkImported(file, Network.Location);
        _networkPoll = Task.Run(() => PollNetworkAsync(_stopping.Token));
    }

    private async Task PollNetworkAsync(CancellationToken ct)
    {
        long applied = Network.Version;
        bool failing = false;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(NetworkPollInterval, _time, ct).ConfigureAwait(false);
                await Network.RefreshAsync(ct).ConfigureAwait(false);
                // Compared with what was applied here, not with what the store read: a local change reads (and
                // stores) the latest document, which may carry another node's change not applied yet.
                if (Network.Version != applied)
                {
                    long version = Network.Version;
                    await ReconcileNetworkAsync(version, ct).ConfigureAwait(false);
                    applied = version;
                }
                if (failing) LogNetworkPollRecovered(Network.Location);
                failing = false;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException or InvalidOperationException or ConfigException or LedgerUnavailableException)
            {
                // The database is down or a stored entry is invalid: keep running with what is applied, say so once.
                if (!failing) LogNetworkPollFailed(Network.Location, e is ConfigException c ? string.Join("; ", c.Errors) : e.Message);
                failing = true;
            }
        }
    }

    /// <summary>Brings the live peers and static routes to what the store says, touching only what differs.</summary>
    private async Task ReconcileNetworkAsync(long version, CancellationToken ct)
    {
        await _networkApply.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var effective = Network.Apply(_seedSettings, ConfigLoader.FromProcess());
            var wanted = effective.Peers.ToDictionary(p => p.Id, StringComparer.Ordinal);
            int added = 0, removed = 0;
            foreach (var live in Peers.Configured.Where(p => !wanted.ContainsKey(p.Id)).ToList())
            {
                await ForgetPeerAsync(live.Id).ConfigureAwait(false);
                removed++;
            }
            foreach (var peer in effective.Peers)
            {
                if (Peers.Settings(peer.Id) == peer) continue;
                await ApplyPeerAsync(peer, ct).ConfigureAwait(false);
                added++;
            }
            bool routesChanged;
            lock (_networkLock)
            {
                routesChanged = !_staticRoutes.OrderBy(r => r.Prefix, StringComparer.Ordinal).SequenceEqual(effective.Routes.OrderBy(r => r.Prefix, StringComparer.Ordinal));
                if (routesChanged) _staticRoutes = [.. effective.Routes];
            }
            if (routesChanged) Routing.SetConfiguredRoutes(StaticRoutes);
            if (added + removed > 0 || routesChanged) LogNetworkApplied(version, added, removed, effective.Routes.Count);
        }
        finally
        {
            _networkApply.Release();
        }
    }

    private async Task StopNetworkPollAsync()
    {
        if (_networkPoll is not null) await _networkPoll.ConfigureAwait(false);
        await Network.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 1030, Level = LogLevel.Information, Message = "Runtime peers and routes are shared in {Location} (version {Version}); changes made on another node are applied within {Seconds} s")]
    private partial void LogNetworkShared(string location, long version, double seconds);

    [LoggerMessage(EventId = 1031, Level = LogLevel.Information, Message = "Imported {File} into {Location}; the file is renamed to .imported and no longer read")]
    private partial void LogNetworkImported(string file, string location);

    [LoggerMessage(EventId = 1032, Level = LogLevel.Information, Message = "Applied runtime network version {Version} from the shared store: {Added} peers added or changed, {Removed} removed, {Routes} static routes")]
    private partial void LogNetworkApplied(long version, int added, int removed, int routes);

    [LoggerMessage(EventId = 1033, Level = LogLevel.Warning, Message = "Cannot read runtime peers and routes from {Location}: {Reason}; running with what is applied, retrying")]
    private partial void LogNetworkPollFailed(string location, string reason);

    [LoggerMessage(EventId = 1034, Level = LogLevel.Information, Message = "Runtime peers and routes readable again from {Location}")]
    private partial void LogNetworkPollRecovered(string location);
}
