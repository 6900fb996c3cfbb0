using M2M.Core.Ledger;
using M2M.Core.Routing;
using M2M.Server.Configuration;
using M2M.Server.Routing;

namespace M2M.Server;

/// <summary>Peers and static routes changed at runtime: validated as the YAML is, kept in network.json, applied without a restart.</summary>
public sealed partial class ConnectorHost
{
    private readonly object _networkLock = new();
    private List<Route> _staticRoutes = [];

    /// <summary>network.json beside the ledger: the runtime changes, applied over the YAML on every start.</summary>
    public NetworkStore Network { get; private set; } = null!;

    public IReadOnlyList<Route> StaticRoutes
    {
        get
        {
            lock (_networkLock) return [.. _staticRoutes];
        }
    }

    /// <summary>Called first in the constructor: the effective settings are the YAML's plus the stored runtime changes.</summary>
    private ConnectorSettings ApplyNetworkStore(ConnectorSettings settings)
    {
        Network = NetworkStore.Open(M2M.Server.Accounting.ConnectorSettlement.SiblingPath(settings, NetworkStore.FileName));
        var effective = Network.Apply(settings, ConfigLoader.FromProcess());
        _staticRoutes = [.. effective.Routes];
        return effective;
    }

    /// <summary>Adds or replaces a peer: its ledger account exists (credit limit applied) before it can connect.</summary>
    public async Task<PeerSettings> PutPeerAsync(PeerSection section, CancellationToken ct)
    {
        var peer = ConfigLoader.FromProcess().ParseRuntimePeer(section, _settings);
        var accounts = new[] { PeerAccounts.PeerAccount(peer.Id, peer.AssetCode, peer.AssetScale, peer.CreditLimit), PeerAccounts.ClearingAccount(peer.AssetCode, peer.AssetScale) };
        var results = await Accounting.Ledger.CreateAccountsAsync(accounts, ct).ConfigureAwait(false);
        if (results[0] == CreateAccountResult.ExistsWithDifferentFields)
            await Accounting.Ledger.SetDebitLimitAsync(accounts[0].Id, accounts[0].DebitLimit, ct).ConfigureAwait(false);
        Network.PutPeer(section);
        await Peers.AddOrUpdateAsync(peer).ConfigureAwait(false);
        Routing.SetPeer(peer);
        return peer;
    }

    /// <summary>Removes a peer; refused (the reason is returned) while it has a balance or packets in flight, unless forced.</summary>
    public async Task<string?> RemovePeerAsync(string peerId, bool force, CancellationToken ct)
    {
        if (Peers.Settings(peerId) is not { } peer) return $"no peer '{peerId}'";
        var account = await Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId(peerId, PeerAccounts.LedgerFor(peer.AssetCode, peer.AssetScale)), ct).ConfigureAwait(false);
        if (!force && account is not null && (account.PostedBalance != 0 || account.DebitsPending != 0 || account.CreditsPending != 0))
            return $"peer '{peerId}' has a balance of {account.PostedBalance} and {account.DebitsPending + account.CreditsPending} in flight; settle it first or remove with force";
        Network.RemovePeer(peerId);
        lock (_networkLock) _staticRoutes.RemoveAll(r => r.NextHop == peerId);
        Routing.RemovePeer(peerId);
        Routing.SetConfiguredRoutes(StaticRoutes);
        await Peers.RemoveAsync(peerId).ConfigureAwait(false);
        return null;
    }

    public Route PutRoute(RouteSection section)
    {
        var route = ConfigLoader.FromProcess().ParseRuntimeRoute(section, Peers.Configured.Select(p => p.Id), _settings.NodeId);
        Network.PutRoute(section);
        lock (_networkLock)
        {
            _staticRoutes.RemoveAll(r => r.Prefix == route.Prefix);
            _staticRoutes.Add(route);
        }
        Routing.SetConfiguredRoutes(StaticRoutes);
        return route;
    }

    public bool RemoveRoute(string prefix)
    {
        bool existed;
        lock (_networkLock) existed = _staticRoutes.RemoveAll(r => r.Prefix == prefix) > 0;
        if (!existed) return false;
        Network.RemoveRoute(prefix);
        Routing.SetConfiguredRoutes(StaticRoutes);
        return true;
    }
}
