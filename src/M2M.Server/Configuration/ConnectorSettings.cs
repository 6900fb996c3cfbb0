using M2M.Core.Routing;
using M2M.Core.Switch;
using M2M.Settlement.Evm;

namespace M2M.Server.Configuration;

/// <summary>The validated configuration the connector runs with (YAML, then environment on top).</summary>
public sealed record ConnectorSettings
{
    public required string NodeId { get; init; }
    public required string IlpAddress { get; init; }
    /// <summary>True when ilpAddress was not configured and is only the g.&lt;nodeId&gt; stand-in: a parent's ILDCP answer replaces it.</summary>
    public bool IlpAddressIsDefault { get; init; }
    public string BindAddress { get; init; } = "127.0.0.1";
    public int BtpServerPort { get; init; } = 3000;
    public int HealthCheckPort { get; init; } = 8080;
    public ConnectorLogLevel LogLevel { get; init; } = ConnectorLogLevel.Info;
    public DeploymentEnvironment Environment { get; init; } = DeploymentEnvironment.Development;
    /// <summary>LOG_FORMAT (text or json; --log-format wins); an unknown value is warned about and text is used.</summary>
    public string? LogFormat { get; init; }
    public string SettlementPreference { get; init; } = "none";
    public string? AdminApiToken { get; init; }
    public IReadOnlyList<PeerSettings> Peers { get; init; } = [];
    public IReadOnlyList<Route> Routes { get; init; } = [];
    public LedgerSettings Ledger { get; init; } = new();
    public WalletSettings Wallet { get; init; } = new();
    public TimeSpan ExpiryMargin { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxHoldTime { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>SIGTERM waits this long for in-flight packets: max hold time plus a margin to reply.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(35);
    public int MaxBtpFrameBytes { get; init; } = 64 * 1024;
    /// <summary>STARTUP_WARMUP_PACKETS: packets `run` drives through a throwaway loopback connector before listening (0 = none).</summary>
    /// <remarks>On by default: with hot methods tiering up at once (runtimeconfig), the first 20,000 packets after start
    /// cost 2.4–2.5× the warm CPU per packet without it, 1.27–1.68× with 10,000 and 1.23–1.27× with 20,000 on an idle
    /// 2-core box (docs/performance.md); 20,000 makes the start 2.9 s instead of 2.1.</remarks>
    public int StartupWarmupPackets { get; init; } = DefaultStartupWarmupPackets;
    public const int DefaultStartupWarmupPackets = 20_000;
    public TimeSpan BtpAuthTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>limits.settlementLeaseMs: how long a node holds a settlement without renewing before another node resumes it.</summary>
    public TimeSpan SettlementLease { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Our EVM account's private key (hex), from EVM_PRIVATE_KEY. Never logged nor reported.</summary>
    public string? EvmPrivateKey { get; init; }
    public TracingSettings Tracing { get; init; } = new();
    public ExplorerSettings Explorer { get; init; } = new();
    public RoutingSettings Routing { get; init; } = new();
    /// <summary>rates, spread, rateSource: conversion between peers of different assets.</summary>
    public ExchangeSettings Exchange { get; init; } = new();
    /// <summary>Where the settings came from, for the startup log line.</summary>
    public string Source { get; init; } = "built-in default";
}

public sealed record PeerSettings
{
    public required string Id { get; init; }
    public PeerRelation Relation { get; init; } = PeerRelation.Peer;
    /// <summary>Outgoing peers have a URL we connect to; the others connect to us.</summary>
    public Uri? Url { get; init; }
    /// <summary>Outgoing: the token we send. Incoming: the token we expect (BTP_PEER_&lt;ID&gt;_SECRET wins).</summary>
    public string? AuthToken { get; init; }
    public string AssetCode { get; init; } = "USD";
    public byte AssetScale { get; init; } = 9;
    public ulong? MaxPacketAmount { get; init; }
    /// <summary>How far the peer may owe us; the ledger refuses (T04) beyond it. Null: unlimited.</summary>
    public ulong? CreditLimit { get; init; }
    public SettlementSettings? Settlement { get; init; }
    /// <summary>peers[].limits: packets/s and in-flight caps; null: none.</summary>
    public PeerLimits? Limits { get; init; }
    /// <summary>CCP: we advertise our routes to this peer (default: unless it is a child).</summary>
    public bool SendRoutes { get; init; } = true;
    /// <summary>CCP: we accept this peer's route updates (default: unless it is a child).</summary>
    public bool ReceiveRoutes { get; init; } = true;

    public bool IsOutgoing => Url is not null;

    public PeerDescriptor ToDescriptor() => new(Id, Relation, AssetCode, AssetScale, MaxPacketAmount);
}

/// <summary>Settle once what we owe the peer reaches Threshold, down to SettleTo, by Method (evm, xrp, rfc38, btp-transfer; default SETTLEMENT_PREFERENCE).</summary>
public sealed record SettlementSettings(ulong Threshold, ulong SettleTo, SettlementMethodKind Method, Uri? EngineUrl)
{
    /// <summary>The EVM payment channel with this peer: we pay by it (method evm) and accept its claims.</summary>
    public EvmPeerSettings? Evm { get; init; }

    /// <summary>Automatic settlements of this peer start at least this far apart (fees and rate limits on chain).</summary>
    public TimeSpan MinInterval { get; init; }

    /// <summary>The peer is trusted to settle with us by BTP TRANSFER: each one credits its account (off: refused with F00).</summary>
    public bool AcceptBtpTransfer { get; init; }
}

public sealed record LedgerSettings
{
    public LedgerBackend Backend { get; init; } = LedgerBackend.Sqlite;
    public string Path { get; init; } = "./data/ledger.db";
    public string? PostgresUrl { get; init; }

    /// <summary>
    /// Seconds to wait for a PostgreSQL connection: the URL's own Timeout (connect_timeout in a postgres:// URL), else
    /// ledger.postgresConnectTimeoutSeconds, else <see cref="RunConnectTimeoutSeconds"/> for `run` (a down database
    /// fails packets fast) and <see cref="OneShotConnectTimeoutSeconds"/> for one-shot commands (a loaded machine).
    /// </summary>
    public int PostgresConnectTimeoutSeconds { get; init; } = RunConnectTimeoutSeconds;

    public const int RunConnectTimeoutSeconds = 2;
    public const int OneShotConnectTimeoutSeconds = 15;
}

/// <summary>The agent wallet store. Without a password the connector runs and the wallet API answers 503.</summary>
public sealed record WalletSettings
{
    public const string DefaultPath = "./data/wallet/agent-wallets.db";
    public string Path { get; init; } = DefaultPath;
    /// <summary>From WALLET_PASSWORD or the password file. Never logged nor reported (see ToString).</summary>
    public string? Password { get; init; }
    /// <summary>JSON-RPC URL for agent EVM balances; null: no EVM balances.</summary>
    public Uri? EvmRpcUrl { get; init; }

    public override string ToString() => $"WalletSettings {{ Path = {Path}, Password = {(Password is null ? "unset" : "***")}, EvmRpcUrl = {EvmRpcUrl?.GetLeftPart(UriPartial.Authority)} }}";
}

/// <summary>OpenTelemetry tracing (OTEL_ENABLED, OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SAMPLING_RATIO).</summary>
public sealed record TracingSettings
{
    public bool Enabled { get; init; }
    public string ServiceName { get; init; } = "m2m-connector";
    /// <summary>OTLP/HTTP base URL; spans are posted to {Endpoint}/v1/traces as protobuf.</summary>
    public Uri Endpoint { get; init; } = new("http://localhost:4318");
    public double SamplingRatio { get; init; } = 1.0;
}
