using M2M.Core.Ledger;
using M2M.Settlement.BtpTransfer;
using M2M.Settlement.Coordination;
using M2M.Server.Peers;
using M2M.Server.Configuration;
using Microsoft.Extensions.Logging;

namespace M2M.Server.Accounting;

/// <summary>
/// Builds the settlement coordinator from the config: one policy per peer with a
/// `settlement` section, the methods this build can run, and the store file beside the ledger.
/// </summary>
public static class ConnectorSettlement
{
    /// <summary>Methods this build can execute (evm needs EVM_PRIVATE_KEY). XRP channel settlement is not wired in yet.</summary>
    public static readonly IReadOnlyList<string> Available = ["rfc38", "evm", BtpTransferSettlementMethod.MethodName];

    public static SettlementCoordinator Create(ConnectorSettings settings, ILedger ledger, TimeProvider time, ILoggerFactory loggers, ISettlementObserver observer,
        Func<string, M2M.Btp.BtpSession?>? sessionOf = null) => Create(settings, ledger, time, loggers, observer, sessionOf, out _);

    /// <summary>As above; <paramref name="evmPayer"/> is the EVM method when one was built (its store is the caller's to dispose).</summary>
    public static SettlementCoordinator Create(ConnectorSettings settings, ILedger ledger, TimeProvider time, ILoggerFactory loggers, ISettlementObserver observer,
        Func<string, M2M.Btp.BtpSession?>? sessionOf, out EvmSettlementMethod? evmPayer)
    {
        var log = loggers.CreateLogger("M2M.Settlement");
        var policies = settings.Peers
            .Where(p => p.Settlement is { Method: not SettlementMethodKind.None })
            .Select(p => new PeerSettlementPolicy(p.Id, p.Settlement!.Method.ConfigName(), p.Settlement.Threshold, p.Settlement.SettleTo, p.AssetCode, p.AssetScale) { MinInterval = p.Settlement.MinInterval })
            .ToList();
        foreach (var p in policies.Where(p => !Available.Contains(p.Method)))
            log.LogWarning("Peer {PeerId}: settlement method {Method} is not available in this build (available: {Available}); it will not be settled automatically", p.PeerId, p.Method, string.Join(", ", Available));
        var peers = settings.Peers.ToDictionary(p => p.Id);
        var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var methods = new List<ISettlementMethod> { new Rfc38SettlementMethod(http, id => peers.GetValueOrDefault(id)?.Settlement?.EngineUrl, id => peers[id].AssetScale) };
        if (sessionOf is not null) methods.Add(new BtpTransferSettlementMethod(CreateBtpTransfers(settings, ledger, loggers, sessionOf)));
        evmPayer = null;
        if (settings.EvmPrivateKey is not null && sessionOf is not null)
            methods.Add(evmPayer = new EvmSettlementMethod(settings, EvmChannelStore.Open(SiblingPath(settings, "evm-channels.db")), sessionOf));
        else if (policies.Any(p => p.Method == "evm"))
            log.LogWarning("EVM_PRIVATE_KEY is not set: peers with settlement method evm will not be settled");
        var store = SettlementStore.Open(StorePath(settings));
        return new SettlementCoordinator(store, ledger, methods, policies, time, log, observer: observer);
    }

    /// <summary>BTP TRANSFER settlement both ways: our TRANSFERs to peers (method btp-transfer) and theirs to us (acceptBtpTransfer).</summary>
    public static BtpPeerTransfers CreateBtpTransfers(ConnectorSettings settings, ILedger ledger, ILoggerFactory loggers, Func<string, M2M.Btp.BtpSession?> sessionOf) =>
        new(sessionOf, new BtpTransferReceiver(ledger,
            settings.Peers.Select(p => new BtpTransferPeer(p.Id, p.Settlement?.AcceptBtpTransfer == true, p.AssetCode, p.AssetScale)),
            loggers.CreateLogger("M2M.Settlement.BtpTransfer")));

    /// <summary>settlements.db beside the SQLite ledger file (./data for a PostgreSQL ledger).</summary>
    public static string StorePath(ConnectorSettings settings) => SiblingPath(settings, "settlements.db");

    /// <summary>A file beside the SQLite ledger file (./data for a PostgreSQL ledger).</summary>
    public static string SiblingPath(ConnectorSettings settings, string fileName) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(settings.Ledger.Backend == LedgerBackend.Sqlite ? settings.Ledger.Path : "./data/ledger.db"))!, fileName);

    /// <summary>The EVM claim receiver, when this connector has a key and a peer with settlement.evm.</summary>
    public static EvmClaimReceiver? CreateReceiver(ConnectorSettings settings, ILedger ledger, TimeProvider time, ILoggerFactory loggers) =>
        settings.EvmPrivateKey is null || !settings.Peers.Any(p => p.Settlement?.Evm is not null) ? null
            : new EvmClaimReceiver(settings, ledger, EvmClaimStore.Open(SiblingPath(settings, "evm-claims.db")), time, loggers.CreateLogger("M2M.Settlement.Evm"));
}
