namespace M2M.Server.Configuration;

// The YAML file as written by operators. 1.x keys (nodeId, btpServerPort, healthCheckPort,
// logLevel, peers{id,url,authToken}, routes{prefix,nextHop,priority}) load unchanged; the rest
// is 2.0 and optional. Unknown keys are an error (1.x dropped them silently).

public sealed class ConfigFile
{
    public string? NodeId { get; set; }
    public string? IlpAddress { get; set; }
    public string? BtpServerPort { get; set; }
    public string? HealthCheckPort { get; set; }
    public string? LogLevel { get; set; }
    public string? Environment { get; set; }
    public List<PeerSection>? Peers { get; set; }
    public List<RouteSection>? Routes { get; set; }
    public LedgerSection? Ledger { get; set; }
    public AdminSection? Admin { get; set; }
    public LimitsSection? Limits { get; set; }
    public WalletSection? Wallet { get; set; }
    public RoutingSection? Routing { get; set; }
    /// <summary>Each asset code's value in a common base; a map (code: number), checked as one by YamlShapeCheck.</summary>
    public Dictionary<string, string?>? Rates { get; set; }
    public string? Spread { get; set; }
    public RateSourceSection? RateSource { get; set; }
}

public sealed class PeerSection
{
    public string? Id { get; set; }
    public string? Url { get; set; }
    public string? AuthToken { get; set; }
    public string? Relation { get; set; }
    public AssetSection? Asset { get; set; }
    public string? MaxPacketAmount { get; set; }
    public string? CreditLimit { get; set; }
    public SettlementSection? Settlement { get; set; }
    public PeerLimitsSection? Limits { get; set; }
    public string? SendRoutes { get; set; }
    public string? ReceiveRoutes { get; set; }
}

public sealed class AssetSection
{
    public string? Code { get; set; }
    public string? Scale { get; set; }
}

public sealed class SettlementSection
{
    public string? Threshold { get; set; }
    public string? SettleTo { get; set; }
    public string? Method { get; set; }
    public string? EngineUrl { get; set; }
    public string? MinIntervalSeconds { get; set; }
    public string? AcceptBtpTransfer { get; set; }
    public EvmSection? Evm { get; set; }
}

/// <summary>peers[].settlement.evm: the payment channel to (or from) this peer on an EVM chain.</summary>
public sealed class EvmSection
{
    public string? RpcUrl { get; set; }
    public string? ChainId { get; set; }
    public string? Contract { get; set; }
    public string? PeerAddress { get; set; }
    public string? DepositWei { get; set; }
    public string? DisputePeriodSeconds { get; set; }
    public string? Token { get; set; }
}

public sealed class RouteSection
{
    public string? Prefix { get; set; }
    public string? NextHop { get; set; }
    public string? Priority { get; set; }
}

public sealed class LedgerSection
{
    public string? Backend { get; set; }
    public string? Path { get; set; }
    public string? PostgresUrl { get; set; }
    public string? PostgresConnectTimeoutSeconds { get; set; }
}

public sealed class AdminSection
{
    public string? ApiToken { get; set; }
}

public sealed class LimitsSection
{
    public string? ExpiryMarginMs { get; set; }
    public string? MaxHoldTimeMs { get; set; }
    public string? DrainTimeoutMs { get; set; }
    public string? MaxBtpFrameBytes { get; set; }
    public string? BtpAuthTimeoutMs { get; set; }
    public string? SettlementLeaseMs { get; set; }
}

/// <summary>wallet: the agent wallet store. The password is never in YAML: WALLET_PASSWORD or a password file.</summary>
public sealed class WalletSection
{
    public string? Path { get; set; }
    public string? PasswordFile { get; set; }
    public string? EvmRpcUrl { get; set; }
}
