using System.Net;
using System.Reflection;
using M2M.Btp;
using M2M.Core.Ledger;
using M2M.Core.Routing;
using M2M.Core.Switch;
using M2M.Server.Accounting;
using M2M.Server.Accounts;
using M2M.Server.Configuration;
using M2M.Server.Explorer;
using M2M.Server.Http;
using M2M.Server.Observability;
using M2M.Server.Peers;
using M2M.Server.Tracing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace M2M.Server;

public enum ConnectorState
{
    Starting,
    Running,
    Draining,
    Stopped,
}

/// <summary>
/// One running connector: the packet switch, its peers, a BTP WebSocket listener on
/// BtpServerPort and the operations HTTP API (/health, /metrics) on HealthCheckPort.
/// The two listeners are separate Kestrel instances so each binds and reports its own port.
/// </summary>
public sealed partial class ConnectorHost : IAsyncDisposable
{
    private readonly ConnectorSettings _settings;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly IlpMessageHandler _handler;
    private readonly CancellationTokenSource _stopping = new();
    private WebApplication? _btpApp;
    private WebApplication? _httpApp;
    private long _startedAt;

    /// <summary>
    /// Start-up, asynchronously: the data gate (read-only schema check, verified backup before a forward
    /// migration), then the configured ledger (or the one <paramref name="openLedger"/> returns), then the
    /// components. Throws LedgerUnavailableException when the ledger cannot be opened.
    /// </summary>
    public static async Task<ConnectorHost> CreateAsync(ConnectorSettings settings, ILoggerFactory loggers, TimeProvider? time = null,
        Func<ConnectorSettings, ILedger>? openLedger = null, CancellationToken cancellationToken = default)
    {
        time ??= TimeProvider.System;
        var log = loggers.CreateLogger("M2M.Connector");
        if (openLedger is null) await Data.StartupGate.CheckAsync(settings, m => Data.DataLog.Migration(log, m), cancellationToken).ConfigureAwait(false);
        if (openLedger is null && M2M.Core.Diagnostics.TestSeams.Current.BenchNullLedger) openLedger = BenchNullLedger(settings, log);
        if (openLedger is null) RefuseOrWarnBenchLedgerSwitches(settings, log, M2M.Core.Diagnostics.TestSeams.Current);
        var ledger = openLedger?.Invoke(settings) ?? await ConnectorLedger.OpenConfiguredAsync(settings.Ledger, time, cancellationToken).ConfigureAwait(false);
        // Runtime peers and routes: network.json, or the shared table in the PostgreSQL ledger's database.
        var network = await M2M.Server.Routing.NetworkStore.OpenAsync(settings, cancellationToken).ConfigureAwait(false);
        return new ConnectorHost(settings, loggers, log, time, ledger, network);
    }

    /// <summary>bench/compare.sh's no-ledger row (M2M_BENCH_NULL_LEDGER=1): never in production, and said loudly.</summary>
    private static Func<ConnectorSettings, ILedger> BenchNullLedger(ConnectorSettings settings, ILogger log)
    {
        if (settings.Environment == DeploymentEnvironment.Production)
            throw new LedgerUnavailableException($"{M2M.Core.Diagnostics.TestSeams.BenchNullLedgerVariable} is a benchmark switch (a ledger that books nothing); refused with ENVIRONMENT=production");
#pragma warning disable CA1848 // once, at start
        log.LogWarning("{Variable}=1: BENCHMARK ONLY, the ledger books nothing (no balances, no credit limits, nothing durable)", M2M.Core.Diagnostics.TestSeams.BenchNullLedgerVariable);
#pragma warning restore CA1848
        return _ => new NullLedger();
    }

    /// <summary>
    /// The SQLite writer's bench switches (M2M_BENCH_LEDGER_*: hold, coalescing window, rows per insert,
    /// pragmas) exist for bench/compare.sh rows only: refused in production, one warning line elsewhere.
    /// </summary>
    public static void RefuseOrWarnBenchLedgerSwitches(ConnectorSettings settings, ILogger log, M2M.Core.Diagnostics.TestSeams seams)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(seams);
        var set = new List<string>();
        if (seams.BenchLedgerHoldMs is not null) set.Add(M2M.Core.Diagnostics.TestSeams.BenchLedgerHoldMsVariable);
        if (seams.BenchLedgerCoalesceMs is not null) set.Add(M2M.Core.Diagnostics.TestSeams.BenchLedgerCoalesceMsVariable);
        if (seams.BenchLedgerRowsPerInsert is not null) set.Add(M2M.Core.Diagnostics.TestSeams.BenchLedgerRowsPerInsertVariable);
        if (!string.IsNullOrWhiteSpace(seams.BenchLedgerPragmas)) set.Add(M2M.Core.Diagnostics.TestSeams.BenchLedgerPragmasVariable);
        if (set.Count == 0) return;
        if (settings.Environment == DeploymentEnvironment.Production)
            throw new LedgerUnavailableException($"{string.Join(", ", set)}: benchmark switches of the ledger writer; refused with ENVIRONMENT=production");
#pragma warning disable CA1848 // once, at start
        log.LogWarning("{Variables}: BENCHMARK ONLY, ledger writer settings changed from their defaults", string.Join(", ", set));
#pragma warning restore CA1848
    }

    private ConnectorHost(ConnectorSettings settings, ILoggerFactory loggers, ILogger log, TimeProvider time, ILedger ledger, M2M.Server.Routing.NetworkStore network)
    {
        settings = ApplyNetworkStore(settings, network);
        _settings = settings;
        _loggers = loggers;
        _log = log;
        _time = time;
        Accounting = new ConnectorLedger(ledger, settings, _time, loggers.CreateLogger("M2M.Ledger"));
        Metrics = new ConnectorMetrics();
        Metrics.TrackLedger(Accounting, settings);
        Explorer = ExplorerFeed.CreateIfEnabled(settings, Metrics, _time, log);
        Tracing = new ConnectorTracing(settings.Tracing, settings.NodeId, (IPacketObserver?)Explorer ?? Metrics, Metrics);
        Peers = new PeerManager(settings, loggers);
        BtpTransfers = ConnectorSettlement.CreateBtpTransfers(settings, ledger, loggers, Peers.SessionOf);
        Settlement = ConnectorSettlement.Create(settings, ledger, _time, loggers, ExplorerFeed.Settlements(Explorer, Tracing), Peers.SessionOf, out var evmPayer,
            ExplorerFeed.Channels(Explorer, Metrics), BtpTransfers);
        if (Explorer is not null)
        {
            Peers.Connected += id => Explorer.PeerChanged(id, true);
            Peers.Disconnected += id => Explorer.PeerChanged(id, false);
        }
        EvmPayer = evmPayer;
        Rfc38 = Rfc38Services.Create(settings, ledger, Settlement.Store, Peers, _time, loggers);

        EvmClaims = ConnectorSettlement.CreateReceiver(settings, ledger, _time, loggers, ExplorerFeed.Channels(Explorer, Metrics));
        Metrics.TrackSettlement(Settlement, EvmPayer is null && EvmClaims is null ? null
            : () => (EvmPayer?.Store.ChannelCount() ?? 0, EvmClaims?.Store.ChannelCount() ?? 0));
        var options = new SwitchOptions { IlpAddress = settings.IlpAddress, ExpiryMargin = settings.ExpiryMargin, MaxHoldTime = settings.MaxHoldTime };
        HostedAccounts = new Accounts.HostedAccounts(settings, ledger, Accounts.AccountStore.Open(Accounts.HostedAccounts.StorePath(settings)), _time);
        Routing = new Routing.RoutingService(settings, options, Peers, _time, loggers);
        if (Explorer is not null) Routing.TableChanged += Explorer.RoutesChanged;
        LimitMetrics = new LimitMetrics(Metrics);
        AuthLimiter = new BtpAuthLimiter(time: _time) { Refused = LimitMetrics.AuthRefused, ConfiguredUser = Peers.InboundUser };
        ConnectionGate = new BtpConnectionGate(loggers.CreateLogger("M2M.Btp.Server"), time: _time);
        LimitMetrics.TrackConnections(ConnectionGate);
        PeerLimits = LimitMetrics.CreateStep(options, settings, _time, LimitMetrics);
        IPacketStep[] steps =
        [
            PeerLimits,
            new IldcpStep(options),
            Rfc38.Messages,
            new PeerProtocolStep(options, Routing),
            new EchoStep(options),
            new MaxPacketAmountStep(options),
            new ExpiryStep(options, _time),
            new LocalDeliveryStep(options, HostedAccounts, HostedAccounts.Receiver, ledger, HostedAccounts.Incoming.Publish),
            new RoutingStep(options, () => Routing.Table, settings.NodeId),
            .. CreateExchangeStep(options),
            CreateLedgerStep(options, ledger),
        ];
        Switch = new PacketSwitch(options, steps, new ForwardingStep(options, Peers, _time), _time, Tracing);
        Metrics.TrackInFlight(() => Switch.InFlight);
        _handler = new IlpMessageHandler(Switch, Peers, Metrics, new BtpSubProtocols(EvmClaims is null ? [] : [new SettlementSubProtocol(M2M.Settlement.Evm.EvmClaimMessage.ProtocolName, EvmClaims.HandleAsync)]), BtpTransfers);
        Payments = new PaymentService(HostedAccounts, (prepare, source, ct) => Switch.HandleAsync(prepare, source, ct), _time, loggers.CreateLogger("M2M.Accounts"));
    }

    public static string Version { get; } =
        typeof(ConnectorHost).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    public ConnectorSettings Settings => _settings;
    public ConnectorMetrics Metrics { get; }
    /// <summary>OTLP traces when OTEL_ENABLED=true; otherwise only forwards to <see cref="Metrics"/>.</summary>
    public ConnectorTracing Tracing { get; }
    public ConnectorLedger Accounting { get; }
    /// <summary>The Explorer's event stream and store; null when EXPLORER_ENABLED=false.</summary>
    public ExplorerFeed? Explorer { get; }

    /// <summary>The agent wallet store (its <see cref="ConnectorWallets.Store"/> null when not configured), opened at start; null before.</summary>
    public M2M.Server.Wallets.ConnectorWallets? Wallets { get; private set; }

    /// <summary>Opens the wallet store once (the wallet API and the Explorer share it); the Explorer observes its changes.</summary>
    private void OpenWallets()
    {
        Wallets ??= M2M.Server.Wallets.ConnectorWallets.Open(_settings.Wallet, _loggers.CreateLogger("M2M.Wallets"));
        if (Explorer is not null && Wallets.Store is { } store) store.Observer = Explorer.Wallets;
    }
    public M2M.Settlement.Coordination.SettlementCoordinator Settlement { get; }
    public PeerManager Peers { get; }
    /// <summary>RFC 38 both ways: incoming settlement credits and peer.settle messages.</summary>
    public Rfc38Services Rfc38 { get; }
    /// <summary>Accepts EVM channel claims from peers; null without EVM_PRIVATE_KEY or a peer with settlement.evm.</summary>
    public M2M.Settlement.Evm.EvmClaimReceiver? EvmClaims { get; }
    /// <summary>BTP TRANSFER settlement: incoming from peers with settlement.acceptBtpTransfer, outgoing by method btp-transfer.</summary>
    public BtpPeerTransfers BtpTransfers { get; }
    /// <summary>Pays peers by EVM channel claims; null without EVM_PRIVATE_KEY.</summary>
    public M2M.Settlement.Evm.EvmSettlementMethod? EvmPayer { get; }
    public PacketSwitch Switch { get; }
    /// <summary>Hosted agent accounts (accounts.db), their STREAM receiver and payment notifications.</summary>
    public Accounts.HostedAccounts HostedAccounts { get; }
    /// <summary>The send API's STREAM payments from hosted accounts.</summary>
    public PaymentService Payments { get; }
    /// <summary>Per-peer packets/s and in-flight caps (peers[].limits).</summary>
    public PeerLimitsStep PeerLimits { get; }
    /// <summary>BTP auth failure limits (10 per minute per address and username; see BtpAuthLimiter).</summary>
    public BtpAuthLimiter AuthLimiter { get; }
    /// <summary>Caps connections waiting for BTP auth apart from authenticated ones.</summary>
    public BtpConnectionGate ConnectionGate { get; }
    public LimitMetrics LimitMetrics { get; }
    /// <summary>CCP, ILDCP toward our parent, static routes: owns the table the switch reads.</summary>
    public Routing.RoutingService Routing { get; }
    public RoutingTable Routes => Routing.Table;
    public ConnectorState State { get; private set; } = ConnectorState.Starting;
    public int BtpPort { get; private set; }
    public int HealthPort { get; private set; }
    public TimeSpan Uptime => _startedAt == 0 ? TimeSpan.Zero : _time.GetElapsedTime(_startedAt);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _startedAt = _time.GetTimestamp();
        // Accounts exist and crash leftovers are voided before any packet is accepted.
        await Accounting.PrepareAsync(cancellationToken).ConfigureAwait(false);
        await HostedAccounts.PrepareAsync(cancellationToken).ConfigureAwait(false);
        StartDoubtfulReplay();
        await Settlement.StartAsync(cancellationToken).ConfigureAwait(false);
        if (EvmClaims is not null) await EvmClaims.StartAsync(cancellationToken).ConfigureAwait(false);
        await BtpTransfers.Receiver.StartAsync(cancellationToken).ConfigureAwait(false);
        OpenWallets();
        await StartExplorerAsync(cancellationToken).ConfigureAwait(false);
        _btpApp = BuildApp(_settings.BtpServerPort, ConfigureBtp);
        _httpApp = BuildApp(_settings.HealthCheckPort, app =>
        {
            app.UseUtf8RequestBodies();
            app.MapOperationsEndpoints();
            app.MapAdminEndpoints();
            app.MapWalletEndpoints();
            app.MapRfc38Endpoints();
            app.MapAccountEndpoints(this);
            app.MapRoleEndpoints();
            app.MapRoutingEndpoints();
            if (Explorer is not null) app.MapExplorerEndpoints();
        });
        await _btpApp.StartAsync(cancellationToken).ConfigureAwait(false);
        await _httpApp.StartAsync(cancellationToken).ConfigureAwait(false);
        BtpPort = BoundPort(_btpApp);
        HealthPort = BoundPort(_httpApp);
        Routing.Start();
        RateSource?.Start();
        Peers.StartOutgoing(_handler);
        StartNetworkPoll();
        State = ConnectorState.Running;
        Payments.ResumeInterrupted();
        LogStarted(_settings.NodeId, Version, Routing.IlpAddress, BtpPort, HealthPort, _settings.Peers.Count, Routes.Count, _settings.Source);
    }

    /// <summary>
    /// Graceful stop: drain (refuse new Prepares with T03, readiness 503, wait for in-flight packets
    /// and open settlements up to the drain timeout; see ConnectorHost.Drain.cs), then close peer
    /// sessions cleanly and stop the listeners. An admin drain already running is awaited instead.
    /// </summary>
    public async Task StopAsync(TimeSpan? drainTimeout = null)
    {
        if (State == ConnectorState.Stopped) return;
        await Payments.DisposeAsync().ConfigureAwait(false);
        await BeginDrain(drainTimeout).ConfigureAwait(false);
        await _stopping.CancelAsync().ConfigureAwait(false);
        await StopDoubtfulReplayAsync().ConfigureAwait(false);
        await StopNetworkPollAsync().ConfigureAwait(false);
        await Routing.DisposeAsync().ConfigureAwait(false);
        if (RateSource is not null) await RateSource.DisposeAsync().ConfigureAwait(false);
        await Peers.DisposeAsync().ConfigureAwait(false);
        if (_btpApp is not null) await _btpApp.StopAsync(CancellationToken.None).ConfigureAwait(false);
        if (_httpApp is not null) await _httpApp.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await StopExplorerAsync().ConfigureAwait(false);
        Wallets?.Dispose();
        await Settlement.DisposeAsync().ConfigureAwait(false);
        Settlement.Store.Dispose();
        EvmClaims?.Dispose();
        EvmPayer?.Store.Dispose();
        (DoubtfulPosts as IDisposable)?.Dispose();
        HostedAccounts.Dispose();
        await Accounting.DisposeAsync().ConfigureAwait(false);
        Tracing.Dispose();
        ConnectionGate.Dispose();
        State = ConnectorState.Stopped;
        LogStopped();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
        if (_btpApp is not null) await _btpApp.DisposeAsync().ConfigureAwait(false);
        if (_httpApp is not null) await _httpApp.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    /// <summary>
    /// No appsettings.json reload watcher: it watches the content root recursively, and with the default
    /// ledger path (./data under the working directory) every WAL write woke it up (issue 7's profile:
    /// ~9 % of all allocations were FileSystemWatcher events). The content root is the install directory,
    /// so a stray appsettings.json in the working directory cannot reconfigure Kestrel either.
    /// </summary>
    private static readonly WebApplicationOptions HostOptions = new()
    {
        Args = ["--hostBuilder:reloadConfigOnChange=false"],
        ContentRootPath = AppContext.BaseDirectory,
    };

    private WebApplication BuildApp(int port, Action<WebApplication> configure)
    {
        var builder = WebApplication.CreateSlimBuilder(HostOptions);
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(_loggers);
        builder.Services.AddConnectorComponents(this);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Parse(_settings.BindAddress), port);
            k.AddServerHeader = false;
            // Bounded resources per RELIABILITY.md: headers must arrive promptly, bodies are small.
            k.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(10);
            k.Limits.MaxRequestBodySize = 64 * 1024;
            // Above the BTP gate's own cap on unauthenticated sockets plus every peer: the gate decides, not a 500 from here.
            k.Limits.MaxConcurrentUpgradedConnections = ConnectionGate.MaxUnauthenticated + Math.Max(1_000, 2 * _settings.Peers.Count);
        });
        var app = builder.Build();
        configure(app);
        return app;
    }

    private void ConfigureBtp(WebApplication app)
    {
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = Peers.Limits.KeepAliveInterval });
        var logger = _loggers.CreateLogger("M2M.Btp.Server");
        app.Run(async context =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                context.Response.StatusCode = StatusCodes.Status426UpgradeRequired;
                await context.Response.WriteAsync("BTP 2.0 over WebSocket only\n").ConfigureAwait(false);
                return;
            }
            if (State != ConnectorState.Running)
            {
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                return;
            }
            if (await AcceptOrRefuseAsync(context).ConfigureAwait(false) is not { } socket) return;
            using var _ = socket;
            string source = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
            // Eviction aborts the connection itself (the WebSocket's Abort alone leaves Kestrel's socket open).
            using var ticket = ConnectionGate.Admit(context.Abort, Peers.Limits.AuthTimeout, AuthLimiter.UnderPressure(source));
            var session = await BtpServerHandshake.AcceptAsync(socket, Peers.Authenticate, _handler, Peers.Limits, logger, _stopping.Token,
                AuthLimiter, source, ticket, Peers.Attach).ConfigureAwait(false);
            if (session is null) return;
            await session.Completion.ConfigureAwait(false);
        });
    }

    /// <summary>The upgrade, or a counted 503 when the transport refuses it (no exception, no stack trace in the log).</summary>
    private async Task<System.Net.WebSockets.WebSocket?> AcceptOrRefuseAsync(HttpContext context)
    {
        try
        {
            return await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            ConnectionGate.CountRefused();
            if (!context.Response.HasStarted) context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return null;
        }
    }

    private static int BoundPort(WebApplication app)
    {
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new Uri(address.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal)).Port;
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information,
        Message = "M2M connector {NodeId} {Version} started: address {IlpAddress}, BTP port {BtpPort}, HTTP port {HealthPort}, {PeerCount} peers, {RouteCount} routes, config from {Source}")]
    private partial void LogStarted(string nodeId, string version, string ilpAddress, int btpPort, int healthPort, int peerCount, int routeCount, string source);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Draining: {InFlight} packets in flight, waiting up to {TimeoutSeconds} s")]
    private partial void LogDraining(long inFlight, double timeoutSeconds);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "Drain deadline passed with {InFlight} packets still in flight and {Pending} settlements pending")]
    private partial void LogDrainTimedOut(long inFlight, int pending);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Information, Message = "Stopped")]
    private partial void LogStopped();
}
