using M2M.Core.Ledger;
using M2M.Ledger.Postgres;
using M2M.Migrations;
using M2M.Settlement.BtpTransfer;
using M2M.Settlement.Coordination;
using M2M.Server.Peers;
using M2M.Settlement.Evm;
using M2M.Server.Configuration;
using Microsoft.Extensions.Logging;
using Npgsql;

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

    /// <summary>
    /// As above; <paramref name="evmPayer"/> is the EVM method when one was built (its store is the caller's to dispose).
    /// <paramref name="btpTransfers"/> is the host's BTP TRANSFER pair, so paying and receiving share one receiver.
    /// </summary>
    public static SettlementCoordinator Create(ConnectorSettings settings, ILedger ledger, TimeProvider time, ILoggerFactory loggers, ISettlementObserver observer,
        Func<string, M2M.Btp.BtpSession?>? sessionOf, out EvmSettlementMethod? evmPayer, M2M.Settlement.Evm.IPaymentChannelObserver? channels = null,
        BtpPeerTransfers? btpTransfers = null)
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
        if (sessionOf is not null) methods.Add(new BtpTransferSettlementMethod(btpTransfers ?? CreateBtpTransfers(settings, ledger, loggers, sessionOf)));
        evmPayer = null;
        if (settings.EvmPrivateKey is not null && sessionOf is not null)
            methods.Add(evmPayer = new EvmSettlementMethod(id => EvmPeers(settings).FirstOrDefault(p => p.Id == id), settings.EvmPrivateKey,
                OpenEvmChannelStore(settings, log, ledger), new Peers.BtpPeerMessenger(sessionOf), channels));
        else if (policies.Any(p => p.Method == "evm"))
            log.LogWarning("EVM_PRIVATE_KEY is not set: peers with settlement method evm will not be settled");
        var store = OpenStore(settings, log, ledger);
        var options = new SettlementOptions { LeaseTime = settings.SettlementLease, Holder = $"{settings.NodeId}/{Environment.ProcessId}/{Guid.NewGuid():N}" };
        return new SettlementCoordinator(store, ledger, methods, policies, time, log, options, observer);
    }

    /// <summary>
    /// The settlement records live in the ledger's store: in the SQLite ledger's file (one node; a new record
    /// commits with its ledger reservation), or in the PostgreSQL ledger's database, shared by every node. A
    /// settlements.db left by an earlier release is imported once (by key) and renamed *.imported. Beside a ledger
    /// that cannot carry the tables (a test's injected ledger), the records stay in settlements.db.
    /// </summary>
    public static ISettlementStore OpenStore(ConnectorSettings settings, ILogger log, ILedger? ledger = null)
    {
        string old = StorePath(settings);
        if (settings.Ledger.Backend != LedgerBackend.Postgres)
        {
            if (InLedger(ledger) is not { } file) return SettlementStore.Open(old);
            var inLedger = SettlementStore.OpenInLedger(file);
            try
            {
                if (File.Exists(old))
                {
                    var copied = inLedger.ImportFile(old);
                    RenameImported(old);
                    log.LogInformation("{File} imported into the SQLite ledger {Ledger}: {Settlements} settlements, {Incoming} incoming settlements, {Channels} EVM channels, {Claims} EVM claims; renamed to {Renamed}",
                        old, file.Path, copied["settlements"], copied["incoming_settlements"], copied["evm_channels"], copied["evm_settlement_claims"] + copied["evm_claims"], old + ".imported");
                }
            }
            catch
            {
                inLedger.Dispose();
                throw;
            }
            return inLedger;
        }
        var store = M2M.Settlement.Postgres.PostgresSettlementStore.Open(LedgerDatabase(settings, 10, "m2m-settlement"));
        if (File.Exists(old))
        {
            using (var legacy = SettlementStore.Open(old))
                foreach (var record in legacy.List()) store.CreateOrGetOpen(record);
            File.Move(old, old + ".imported", overwrite: true);
            log.LogInformation("Settlement records of {File} imported into the PostgreSQL ledger database; the file was renamed to {Renamed}", old, old + ".imported");
        }
        return store;
    }

    /// <summary>BTP TRANSFER settlement both ways: our TRANSFERs to peers (method btp-transfer) and theirs to us (acceptBtpTransfer).</summary>
    public static BtpPeerTransfers CreateBtpTransfers(ConnectorSettings settings, ILedger ledger, ILoggerFactory loggers, Func<string, M2M.Btp.BtpSession?> sessionOf) =>
        new(sessionOf, new BtpTransferReceiver(ledger,
            settings.Peers.Select(p => new BtpTransferPeer(p.Id, p.Settlement?.AcceptBtpTransfer == true, p.AssetCode, p.AssetScale)),
            loggers.CreateLogger("M2M.Settlement.BtpTransfer")));

    /// <summary>settlements.db beside the SQLite ledger file (./data for a PostgreSQL ledger): the pre-2.1 store, imported on first start.</summary>
    public static string StorePath(ConnectorSettings settings) => SiblingPath(settings, "settlements.db");

    /// <summary>A file beside the SQLite ledger file (./data for a PostgreSQL ledger).</summary>
    public static string SiblingPath(ConnectorSettings settings, string fileName) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(settings.Ledger.Backend == LedgerBackend.Sqlite ? settings.Ledger.Path : "./data/ledger.db"))!, fileName);

    /// <summary>The EVM claim receiver, when this connector has a key and a peer with settlement.evm.</summary>
    public static EvmClaimReceiver? CreateReceiver(ConnectorSettings settings, ILedger ledger, TimeProvider time, ILoggerFactory loggers, M2M.Settlement.Evm.IPaymentChannelObserver? observer = null) =>
        settings.EvmPrivateKey is null || !settings.Peers.Any(p => p.Settlement?.Evm is not null) ? null
            : new EvmClaimReceiver(EvmPeers(settings), settings.EvmPrivateKey, ledger, OpenEvmClaimStore(settings, loggers.CreateLogger("M2M.Settlement.Evm"), ledger), time, loggers.CreateLogger("M2M.Settlement.Evm"), observer);

    /// <summary>The pre-2.1 per-process files, imported into the settlement store on first start.</summary>
    public const string LegacyEvmChannelsFile = "evm-channels.db", LegacyEvmClaimsFile = "evm-claims.db";

    /// <summary>
    /// The payer's EVM channel state in the settlement store (the SQLite ledger's file, or the PostgreSQL ledger's
    /// database shared by every node; settlements.db beside a ledger that cannot carry the tables). An evm-channels.db left by an earlier release is imported once and renamed *.imported.
    /// </summary>
    public static EvmChannelStore OpenEvmChannelStore(ConnectorSettings settings, ILogger log, ILedger? ledger = null)
    {
        var store = settings.Ledger.Backend == LedgerBackend.Postgres ? EvmChannelStore.OpenPostgres(LedgerDatabase(settings, 10, "m2m-settlement-evm"))
            : InLedger(ledger) is { } file ? EvmChannelStore.OpenInLedger(file) : EvmChannelStore.Open(StorePath(settings));
        ImportLegacy(SiblingPath(settings, LegacyEvmChannelsFile), store.ImportFile, store.Backend, log);
        return store;
    }

    /// <summary>The received EVM claims in the settlement store; an evm-claims.db left by an earlier release is imported once.</summary>
    public static EvmClaimStore OpenEvmClaimStore(ConnectorSettings settings, ILogger log, ILedger? ledger = null)
    {
        var store = settings.Ledger.Backend == LedgerBackend.Postgres ? EvmClaimStore.OpenPostgres(LedgerDatabase(settings, 10, "m2m-settlement-evm"))
            : InLedger(ledger) is { } file ? EvmClaimStore.OpenInLedger(file) : EvmClaimStore.Open(StorePath(settings));
        ImportLegacy(SiblingPath(settings, LegacyEvmClaimsFile), store.ImportFile, store.Backend, log);
        return store;
    }

    /// <summary>
    /// A data source for one of the host's stores in the PostgreSQL ledger's database (LEDGER_POSTGRES_URL, in either
    /// form): the ledger's connect timeout (ledger.postgresConnectTimeoutSeconds or the URL's), synchronous_commit on,
    /// and <paramref name="applicationName"/> in pg_stat_activity (<see cref="PostgresConnectionString.CreateDataSource"/>).
    /// </summary>
    internal static NpgsqlDataSource LedgerDatabase(ConnectorSettings settings, int commandTimeoutSeconds, string applicationName) =>
        PostgresConnectionString.CreateDataSource(PostgresConnectionString.Parse(settings.Ledger.PostgresUrl!),
            settings.Ledger.PostgresConnectTimeoutSeconds, commandTimeoutSeconds, applicationName);

    /// <summary>Copies a legacy file in (idempotent), renames it *.imported so it is read once, and says so in one line.</summary>
    private static void ImportLegacy(string file, Func<string, EvmImport> import, string backend, ILogger log)
    {
        if (!File.Exists(file)) return;
        var done = import(file);
        RenameImported(file);
        if (done.Skipped > 0)
            log.LogWarning("{File} imported into the {Backend} settlement store: {Channels} channels, {Claims} claims; {Skipped} rows kept the store's newer or other channel (close those channels on chain); renamed to {Renamed}",
                file, backend, done.Channels, done.Claims, done.Skipped, file + ".imported");
        else
            log.LogInformation("{File} imported into the {Backend} settlement store: {Channels} channels, {Claims} claims; renamed to {Renamed}",
                file, backend, done.Channels, done.Claims, file + ".imported");
    }

    /// <summary>
    /// The SQLite ledger when it carries the settlement tables (ledger migration 0005); null for other ledgers and for a
    /// release simulated below schema 5 (the settlement tables then stay in settlements.db, as in that release).
    /// </summary>
    private static ISqliteLedgerFile? InLedger(ILedger? ledger) => ledger is ISqliteLedgerFile file && SettlementStore.LedgerHasTables(file.Path) ? file : null;

    /// <summary>Renames an imported SQLite file (and any -wal/-shm beside it) to *.imported, so it is read once.</summary>
    private static void RenameImported(string file)
    {
        File.Move(file, file + ".imported", overwrite: true);
        foreach (var side in new[] { "-wal", "-shm" })
            if (File.Exists(file + side)) File.Move(file + side, file + ".imported" + side, overwrite: true);
    }

    /// <summary>The peers with peers[].settlement.evm, as settlement sees them.</summary>
    public static IReadOnlyList<EvmPeer> EvmPeers(ConnectorSettings settings) =>
        settings.Peers.Where(p => p.Settlement?.Evm is not null).Select(p => new EvmPeer(p.Id, p.AssetCode, p.AssetScale, p.Settlement!.Evm!)).ToList();
}

/// <summary>RFC 38 both ways for peers with a settlement engine: incoming credits and peer.settle messages.</summary>
public sealed record Rfc38Services(M2M.Settlement.Rfc38.IncomingSettlements Incoming, M2M.Settlement.Rfc38.SettlementMessages Messages)
{
    public static Rfc38Services Create(ConnectorSettings settings, ILedger ledger, ISettlementStore store, M2M.Core.Switch.IPeerLinks links, TimeProvider time, ILoggerFactory loggers)
    {
        var engines = settings.Peers.Where(p => p.Settlement?.EngineUrl is not null).ToDictionary(p => p.Id, p => p.Settlement!.EngineUrl!);
        var assets = settings.Peers.Where(p => engines.ContainsKey(p.Id)).ToDictionary(p => p.Id, p => new M2M.Settlement.Rfc38.PeerAsset(p.Id, p.AssetCode, p.AssetScale));
        var log = loggers.CreateLogger("M2M.Settlement.Rfc38");
        var http = new HttpClient { Timeout = M2M.Settlement.Rfc38.SettlementMessages.RelayTimeout };
        return new Rfc38Services(
            new M2M.Settlement.Rfc38.IncomingSettlements(store, ledger, assets, time, log),
            new M2M.Settlement.Rfc38.SettlementMessages(http, id => engines.GetValueOrDefault(id), links, settings.IlpAddress, time, log));
    }
}
