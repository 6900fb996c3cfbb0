using M2M.Core.Ledger;
using M2M.Settlement.Coordination;
using M2M.Server.Configuration;
using Microsoft.Extensions.Logging;

namespace M2M.Server.Accounting;

/// <summary>
/// Builds the settlement coordinator from the config: one policy per peer with a
/// `settlement` section, the methods this build can run, and the store file beside the ledger.
/// </summary>
public static class ConnectorSettlement
{
    /// <summary>Methods this build can execute. EVM and XRP channel settlement are not wired in yet.</summary>
    public static readonly IReadOnlyList<string> Available = ["rfc38"];

    public static SettlementCoordinator Create(ConnectorSettings settings, ILedger ledger, TimeProvider time, ILoggerFactory loggers, ISettlementObserver observer)
    {
        var log = loggers.CreateLogger("M2M.Settlement");
        var policies = settings.Peers
            .Where(p => p.Settlement is { Method: not "none" })
            .Select(p => new PeerSettlementPolicy(p.Id, p.Settlement!.Method, p.Settlement.Threshold, p.Settlement.SettleTo, p.AssetCode, p.AssetScale))
            .ToList();
        foreach (var p in policies.Where(p => !Available.Contains(p.Method)))
            log.LogWarning("Peer {PeerId}: settlement method {Method} is not available in this build (available: {Available}); it will not be settled automatically", p.PeerId, p.Method, string.Join(", ", Available));
        var peers = settings.Peers.ToDictionary(p => p.Id);
        var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        ISettlementMethod[] methods = [new Rfc38SettlementMethod(http, id => peers.GetValueOrDefault(id)?.Settlement?.EngineUrl, id => peers[id].AssetScale)];
        var store = SettlementStore.Open(StorePath(settings));
        return new SettlementCoordinator(store, ledger, methods, policies, time, log, observer: observer);
    }

    /// <summary>settlements.db beside the SQLite ledger file (./data for a PostgreSQL ledger).</summary>
    public static string StorePath(ConnectorSettings settings) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(settings.Ledger.Backend == "sqlite" ? settings.Ledger.Path : "./data/ledger.db"))!, "settlements.db");
}
