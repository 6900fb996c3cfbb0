using System.Globalization;
using M2M.Core.Ilp;
using M2M.Core.Routing;
using M2M.Core.Switch;
using M2M.Settlement.Evm;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace M2M.Server.Configuration;

/// <summary>
/// Reads the YAML file, applies environment overrides and validates everything, collecting every
/// problem (not just the first) so an operator fixes the file in one pass.
/// </summary>
public sealed partial class ConfigLoader(Func<string, string?> getEnv)
{
    private readonly List<string> _errors = [];
    private readonly List<string> _warnings = [];

    public static ConfigLoader FromProcess() => new(Variable);

    /// <summary>
    /// For one-shot commands that read the configuration but never sign (ledger, accounts, backup, restore, data):
    /// EVM_PRIVATE_KEY is not required, and PostgreSQL gets the longer one-shot connect timeout.
    /// </summary>
    public static ConfigLoader ForOneShot() => new(Variable) { OneShot = true };

    /// <summary>
    /// True for a command that runs once and does not sign settlements: EVM_PRIVATE_KEY may be absent although a
    /// peer has settlement.evm (a key that is set is still checked), and the PostgreSQL connect timeout defaults
    /// to <see cref="LedgerSettings.OneShotConnectTimeoutSeconds"/>. `run` and `config validate` keep it false.
    /// </summary>
    public bool OneShot { get; init; }

    /// <summary>
    /// The one place that reads the process environment (the build bans Environment.GetEnvironmentVariable
    /// everywhere else in src): the loader itself, and the few CLI option defaults that name a variable.
    /// </summary>
#pragma warning disable RS0030 // the banned API's one sanctioned caller
    public static string? Variable(string name) => System.Environment.GetEnvironmentVariable(name);
#pragma warning restore RS0030

    /// <summary>Deprecation notices and other non-fatal findings of the last load.</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    /// <summary>The file to read: the explicit path, else CONFIG_FILE, else ./config.yaml if present, else none (built-in default).</summary>
    public string? ResolvePath(string? explicitPath)
    {
        if (!string.IsNullOrEmpty(explicitPath)) return explicitPath;
        string? env = getEnv("CONFIG_FILE");
        if (!string.IsNullOrEmpty(env)) return env;
        return File.Exists("config.yaml") ? "config.yaml" : null;
    }

    /// <summary>Loads and validates; throws <see cref="ConfigException"/> listing every problem.</summary>
    public ConnectorSettings Load(string? path)
    {
        _errors.Clear();
        _warnings.Clear();
        ConfigFile file = path is null ? BuiltInDefault() : ReadFile(path);
        var settings = Build(file, path ?? "built-in default");
        if (_errors.Count > 0) throw new ConfigException(_errors);
        return settings!;
    }

    /// <summary>The single-node default used when no file is given: no peers, a local address.</summary>
    public static ConfigFile BuiltInDefault() => new() { NodeId = "m2m-connector" };

    private ConfigFile ReadFile(string path)
    {
        if (!File.Exists(path)) throw new ConfigException([$"config file '{path}' does not exist"]);
        string text = File.ReadAllText(path);
        // Duplicate keys first (the shape check's parser stops at the first one), then the shape: every
        // unknown key and wrongly nested value at once, each with its line. A syntax error is reported
        // by the shape check, in plain words.
        if (DuplicateKeys(text, path) is { Count: > 0 } duplicates) throw new ConfigException(duplicates);
        var shape = YamlShapeCheck.Check(text, path);
        if (shape.Count > 0) throw new ConfigException(shape);
        try
        {
            var deserializer = new DeserializerBuilder().WithNamingConvention(CamelCaseNamingConvention.Instance).Build();
            var parser = new EnvExpandingParser(new Parser(new StringReader(text)), getEnv);
            return deserializer.Deserialize<ConfigFile?>(parser) ?? new ConfigFile();
        }
        catch (YamlException e)
        {
            // What the shape check cannot see: an unset ${VAR}, or a binder message.
            string message = e.InnerException is null && e.Message.Contains("environment variable", StringComparison.Ordinal)
                ? e.Message
                : YamlShapeCheck.DescribeSyntaxError(e);
            throw new ConfigException([$"{path}:{e.Start.Line}:{e.Start.Column}: {message}"]);
        }
    }

    private static IReadOnlyList<string> DuplicateKeys(string text, string path)
    {
        try
        {
            return YamlDuplicateKeys.Find(text, path);
        }
        catch (YamlException)
        {
            return [];
        }
    }

    private ConnectorSettings? Build(ConfigFile f, string source)
    {
        string nodeId = Env("NODE_ID") ?? f.NodeId ?? "";
        bool validId = IsPeerId(nodeId);
        if (!validId) Error("nodeId", nodeId, "a name of letters, digits, '_', '~' or '-' (set nodeId in the file or NODE_ID)");
        string ilpAddress = f.IlpAddress ?? $"g.{nodeId}";
        // A derived address is only worth a second error when the operator wrote it.
        if ((validId || f.IlpAddress is not null) && IlpAddress.Validate(ilpAddress) is { } why)
            Error("ilpAddress", ilpAddress, $"an ILP address ({why})");

        var settings = new ConnectorSettings
        {
            NodeId = nodeId,
            IlpAddress = ilpAddress,
            IlpAddressIsDefault = f.IlpAddress is null,
            BindAddress = BindAddress(),
            BtpServerPort = Port("btpServerPort (BTP_SERVER_PORT)", EnvWithAlias("BTP_SERVER_PORT", "BTP_PORT") ?? f.BtpServerPort, 3000),
            HealthCheckPort = Port("healthCheckPort (HEALTH_CHECK_PORT)", Env("HEALTH_CHECK_PORT") ?? f.HealthCheckPort, 8080),
            LogLevel = OneOf("logLevel (LOG_LEVEL)", Env("LOG_LEVEL") ?? f.LogLevel, ConnectorLogLevel.Info),
            Environment = OneOf("ENVIRONMENT", Env("ENVIRONMENT") ?? f.Environment, DeploymentEnvironment.Development),
            LogFormat = Env("LOG_FORMAT"),
            SettlementPreference = OneOf("SETTLEMENT_PREFERENCE", EnvWithAlias("SETTLEMENT_PREFERENCE", "SETTLEMENT_METHOD"), "none", "evm", "xrp", "both", "none"),
            AdminApiToken = Env("ADMIN_API_TOKEN") ?? Env("SETTLEMENT_AUTH_TOKEN") ?? f.Admin?.ApiToken,
            Ledger = BuildLedger(f.Ledger),
            EvmPrivateKey = EvmKey(),
            Tracing = BuildTracing(),
            Explorer = BuildExplorer(),
            Routing = BuildRouting(f.Routing),
            StartupWarmupPackets = (int)UInt("STARTUP_WARMUP_PACKETS", Env("STARTUP_WARMUP_PACKETS"), ConnectorSettings.DefaultStartupWarmupPackets, 0, 1_000_000),
            Source = source,
        };
        settings = ApplyLimits(settings, f.Limits);
        settings = settings with { Wallet = BuildWallet(f.Wallet, settings.Environment) };
        var peers = BuildPeers(f.Peers ?? [], settings);
        var routes = BuildRoutes(f.Routes ?? [], peers, nodeId);
        if (!OneShot && Env("EVM_PRIVATE_KEY") is null && peers.Any(p => p.Settlement?.Evm is not null))
            Error("EVM_PRIVATE_KEY", "", "our EVM account's private key (32 bytes of hex) in the environment when a peer has settlement.evm");
        settings = settings with { Peers = peers, Routes = routes, Exchange = BuildExchange(f, peers) };
        RefusePlaceholderSecrets(settings);
        return settings;
    }

    /// <summary>Loopback unless told otherwise: a quick start is not reachable from other hosts.</summary>
    private string BindAddress()
    {
        string? value = Env("BIND_ADDRESS");
        if (value is null) return "127.0.0.1";
        if (value != "localhost" && !System.Net.IPAddress.TryParse(value, out _))
            Error("BIND_ADDRESS", value, "an IP address to listen on (127.0.0.1 for this host only, 0.0.0.0 for every interface)");
        return value;
    }

    private ConnectorSettings ApplyLimits(ConnectorSettings s, LimitsSection? l) => l is null ? s : s with
    {
        ExpiryMargin = Millis("limits.expiryMarginMs", l.ExpiryMarginMs, s.ExpiryMargin, 1, 60_000),
        MaxHoldTime = Millis("limits.maxHoldTimeMs", l.MaxHoldTimeMs, s.MaxHoldTime, 100, 600_000),
        DrainTimeout = Millis("limits.drainTimeoutMs", l.DrainTimeoutMs, s.DrainTimeout, 0, 3_600_000),
        BtpAuthTimeout = Millis("limits.btpAuthTimeoutMs", l.BtpAuthTimeoutMs, s.BtpAuthTimeout, 100, 120_000),
        MaxBtpFrameBytes = (int)UInt("limits.maxBtpFrameBytes", l.MaxBtpFrameBytes, (ulong)s.MaxBtpFrameBytes, 40_000, 16 * 1024 * 1024),
        SettlementLease = Millis("limits.settlementLeaseMs", l.SettlementLeaseMs, s.SettlementLease, 1_000, 3_600_000),
    };

    /// <summary>OTEL_* (the OpenTelemetry SDK's own names); only read here, so a bad value is one config error.</summary>
    private TracingSettings BuildTracing()
    {
        var d = new TracingSettings();
        bool enabled = OneOf("OTEL_ENABLED", Env("OTEL_ENABLED"), "false", "true", "false", "1", "0") is "true" or "1";
        string service = Env("OTEL_SERVICE_NAME") ?? d.ServiceName;
        if (service.Length > 255 || service.Any(char.IsControl)) Error("OTEL_SERVICE_NAME", service, "a service name of at most 255 printable characters");
        string endpoint = Env("OTEL_EXPORTER_OTLP_ENDPOINT") ?? d.Endpoint.ToString();
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || string.IsNullOrEmpty(uri.Host))
            Error("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint, "the http:// or https:// base URL of an OTLP/HTTP collector (spans go to <url>/v1/traces)");
        double ratio = d.SamplingRatio;
        if (Env("OTEL_SAMPLING_RATIO") is { } r && (!double.TryParse(r, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out ratio) || ratio is < 0 or > 1))
            Error("OTEL_SAMPLING_RATIO", r, "a fraction of traces to keep, from 0 to 1 (e.g. 0.1)");
        return new TracingSettings { Enabled = enabled, ServiceName = service, Endpoint = uri ?? d.Endpoint, SamplingRatio = ratio };
    }

    private LedgerSettings BuildLedger(LedgerSection? l)
    {
        var d = new LedgerSettings();
        var backend = OneOf("ledger.backend", Env("LEDGER_BACKEND") ?? l?.Backend, d.Backend);
        string? pg = Env("LEDGER_POSTGRES_URL") ?? l?.PostgresUrl;
        if (backend == LedgerBackend.Postgres && string.IsNullOrEmpty(pg))
            Error("ledger.postgresUrl", "", "a PostgreSQL connection string when ledger.backend is postgres (or LEDGER_POSTGRES_URL)");
        else if (backend == LedgerBackend.Postgres && M2M.Ledger.Postgres.PostgresConnectionString.Problem(pg!) is { } problem)
            Error("ledger.postgresUrl (LEDGER_POSTGRES_URL)", pg!, $"a PostgreSQL URL (postgres://user:password@host:5432/db) or connection string (Host=…;Database=…): {problem}");
        int fallback = OneShot ? LedgerSettings.OneShotConnectTimeoutSeconds : LedgerSettings.RunConnectTimeoutSeconds;
        int timeout = (int)UInt("ledger.postgresConnectTimeoutSeconds", l?.PostgresConnectTimeoutSeconds, (ulong)fallback, 1, 300);
        // A Timeout the operator wrote into the URL itself is the most specific statement: it wins.
        if (!string.IsNullOrEmpty(pg) && M2M.Ledger.Postgres.PostgresConnectionString.ExplicitConnectTimeout(pg) is { } inUrl) timeout = inUrl;
        return new LedgerSettings { Backend = backend, Path = Env("LEDGER_PATH") ?? l?.Path ?? d.Path, PostgresUrl = pg, PostgresConnectTimeoutSeconds = timeout };
    }

    private List<PeerSettings> BuildPeers(List<PeerSection> sections, ConnectorSettings s)
    {
        var peers = new List<PeerSettings>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < sections.Count; i++)
        {
            var p = BuildPeer(sections[i], $"peers[{i}]", s);
            if (p is null) continue;
            if (!seen.Add(p.Id)) Error($"peers[{i}].id", p.Id, "a unique peer id (it is used twice)");
            else if (p.Id == s.NodeId) Error($"peers[{i}].id", p.Id, "a peer id different from our own nodeId");
            else peers.Add(p);
        }
        return peers;
    }

    private PeerSettings? BuildPeer(PeerSection p, string key, ConnectorSettings s)
    {
        string id = p.Id ?? "";
        if (!IsPeerId(id))
        {
            Error($"{key}.id", id, "a peer id of letters, digits, '_', '~' or '-'");
            return null;
        }
        var relation = OneOf($"{key}.relation", p.Relation, "peer", "peer", "parent", "child") switch
        {
            "parent" => PeerRelation.Parent,
            "child" => PeerRelation.Child,
            _ => PeerRelation.Peer,
        };
        Uri? url = PeerUrl($"{key}.url", p.Url, s.Environment);
        string? secret = Env(SecretVariable(id));
        string? token = url is null ? secret ?? p.AuthToken : p.AuthToken;
        if (url is null && string.IsNullOrEmpty(token))
            _warnings.Add($"peer '{id}' has no url and no secret ({SecretVariable(id)} or {key}.authToken): its connections will be refused");
        string code = p.Asset?.Code ?? "USD";
        if (code.Length is 0 or > 16) Error($"{key}.asset.code", code, "an asset code of 1 to 16 characters");
        var (sendRoutes, receiveRoutes) = RouteSwitches(p, key, relation);
        var peer = new PeerSettings
        {
            Id = id,
            Relation = relation,
            SendRoutes = sendRoutes,
            ReceiveRoutes = receiveRoutes,
            Url = url,
            AuthToken = token,
            AssetCode = code,
            AssetScale = (byte)UInt($"{key}.asset.scale", p.Asset?.Scale, 9, 0, 255),
            MaxPacketAmount = OptionalUInt($"{key}.maxPacketAmount", p.MaxPacketAmount),
            CreditLimit = OptionalUInt($"{key}.creditLimit", p.CreditLimit),
            Settlement = p.Settlement is null ? null : BuildSettlement(p.Settlement, $"{key}.settlement", s.SettlementPreference),
            Limits = BuildPeerLimits(p.Limits, key),
        };
        if (peer.Settlement?.Evm is not null && peer.AssetScale > 18)
            Error($"{key}.asset.scale", peer.AssetScale.ToString(CultureInfo.InvariantCulture), peer.Settlement.Evm.Token is null
                ? "at most 18 when the peer settles over EVM (1 unit = 10^(18 - scale) wei)"
                : "at most 18 and at most the token's decimals when the peer settles over an ERC-20 channel (1 unit = 10^(decimals - scale) token base units)");
        return peer;
    }

    private SettlementSettings? BuildSettlement(SettlementSection s, string key, string preference)
    {
        // "both" prefers EVM; the per-peer method wins over SETTLEMENT_PREFERENCE.
        var method = OneOf($"{key}.method", s.Method, preference == "both" ? SettlementMethodKind.Evm : SettingNames.TryParse(preference, out SettlementMethodKind p) ? p : SettlementMethodKind.None);
        // A section that only accepts the peer's settlements (acceptBtpTransfer, method none) needs no threshold.
        bool acceptOnly = s.Threshold is null && method == SettlementMethodKind.None && s.AcceptBtpTransfer is not null;
        ulong threshold = acceptOnly ? 0 : UInt($"{key}.threshold", s.Threshold ?? "", 0, 1, ulong.MaxValue);
        ulong settleTo = UInt($"{key}.settleTo", s.SettleTo, 0, 0, ulong.MaxValue);
        if (s.Threshold is not null && settleTo >= threshold && threshold > 0)
            Error($"{key}.settleTo", s.SettleTo ?? "", $"an amount below the threshold {threshold}");
        Uri? engine = null;
        if (s.EngineUrl is not null && (!Uri.TryCreate(s.EngineUrl.EndsWith('/') ? s.EngineUrl : s.EngineUrl + "/", UriKind.Absolute, out engine) || engine.Scheme is not ("http" or "https")))
            Error($"{key}.engineUrl", s.EngineUrl, "an http:// or https:// URL of an RFC 38 settlement engine");
        if (method == SettlementMethodKind.Rfc38 && s.EngineUrl is null)
            Error($"{key}.engineUrl", "", "the settlement engine URL when the method is rfc38");
        var evm = s.Evm is null ? null : BuildEvm(s.Evm, $"{key}.evm", method);
        if (method == SettlementMethodKind.Evm && s.Evm is null)
            _warnings.Add($"{key}.method is evm but {key}.evm is missing: this peer will not be settled until its channel is configured");
        return new SettlementSettings(threshold, settleTo, method, engine)
        {
            Evm = evm,
            MinInterval = TimeSpan.FromSeconds(UInt($"{key}.minIntervalSeconds", s.MinIntervalSeconds, 0, 0, 86_400 * 30)),
            AcceptBtpTransfer = OneOf($"{key}.acceptBtpTransfer", s.AcceptBtpTransfer, "false", "true", "false") == "true",
        };
    }

    private EvmPeerSettings? BuildEvm(EvmSection e, string key, SettlementMethodKind method)
    {
        int errors = _errors.Count;
        Uri? rpc = null;
        if (e.RpcUrl is null || !Uri.TryCreate(e.RpcUrl, UriKind.Absolute, out rpc) || rpc.Scheme is not ("http" or "https") || string.IsNullOrEmpty(rpc.Host))
            Error($"{key}.rpcUrl", e.RpcUrl ?? "", "an http:// or https:// JSON-RPC URL of the EVM node");
        ulong chainId = UInt($"{key}.chainId", e.ChainId ?? "", 0, 1, ulong.MaxValue);
        if (!IsEvmAddress(e.Contract)) Error($"{key}.contract", e.Contract ?? "", "the channel contract's address: 0x and 40 hex digits");
        if (!IsEvmAddress(e.PeerAddress)) Error($"{key}.peerAddress", e.PeerAddress ?? "", "the peer's EVM address: 0x and 40 hex digits");
        var deposit = System.Numerics.BigInteger.Zero;
        if (e.DepositWei is not null && (!System.Numerics.BigInteger.TryParse(e.DepositWei.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out deposit) || deposit <= 0 || deposit >= System.Numerics.BigInteger.One << 256))
            Error($"{key}.depositWei", e.DepositWei, "a positive whole number of wei below 2^256");
        if (method == SettlementMethodKind.Evm && e.DepositWei is null)
            Error($"{key}.depositWei", "", "the channel deposit in wei when the method is evm (we open the channel)");
        ulong dispute = UInt($"{key}.disputePeriodSeconds", e.DisputePeriodSeconds, 86_400, 1, 365UL * 86_400);
        string? token = e.Token?.Trim();
        if (token is not null)
        {
            // A mixed-case address carries an EIP-55 checksum: a mistyped digit is caught here, not on chain.
            if (!IsEvmAddress(token) || System.Numerics.BigInteger.Parse("0" + token[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture).IsZero)
                Error($"{key}.token", e.Token!, "the ERC-20 token's contract address: 0x and 40 hex digits, not the zero address (leave token out for ETH)");
            else if (token[2..] != token[2..].ToLowerInvariant() && token[2..] != token[2..].ToUpperInvariant() && !Nethereum.Util.AddressUtil.Current.IsChecksumAddress(token))
                Error($"{key}.token", e.Token!, "an address whose EIP-55 checksum matches: mixed case is a checksum and this one is wrong, so a digit is probably mistyped (copy the address again)");
            else if (string.Equals(token, e.Contract?.Trim(), StringComparison.OrdinalIgnoreCase))
                Error($"{key}.token", e.Token!, $"the token's address, which is not the channel contract's ({key}.contract)");
        }
        if (_errors.Count > errors) return null;
        return new EvmPeerSettings
        {
            RpcUrl = rpc!, ChainId = chainId, Contract = e.Contract!, PeerAddress = e.PeerAddress!, DepositWei = deposit, DisputePeriodSeconds = dispute, Token = token,
        };
    }

    private static bool IsEvmAddress(string? value) =>
        value is { Length: 42 } && value.StartsWith("0x", StringComparison.OrdinalIgnoreCase) && value.AsSpan(2).ContainsAnyExcept(HexDigits) == false;

    private static readonly System.Buffers.SearchValues<char> HexDigits = System.Buffers.SearchValues.Create("0123456789abcdefABCDEF");

    /// <summary>EVM_PRIVATE_KEY, validated; the value is never echoed in an error.</summary>
    private string? EvmKey()
    {
        string? key = Env("EVM_PRIVATE_KEY")?.Trim();
        if (key is null) return null;
        var hex = key.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? key.AsSpan(2) : key.AsSpan();
        if (hex.Length != 64 || hex.ContainsAnyExcept(HexDigits))
        {
            Error("EVM_PRIVATE_KEY", "(hidden)", "a secp256k1 private key: 64 hex digits, 0x optional");
            return null;
        }
        return key;
    }

    /// <summary>BTP_PEER_&lt;ID&gt;_SECRET with the id upper-cased and '-' turned into '_'.</summary>
    public static string SecretVariable(string peerId) =>
        $"BTP_PEER_{peerId.ToUpperInvariant().Replace('-', '_').Replace('~', '_')}_SECRET";

    private Uri? PeerUrl(string key, string? value, DeploymentEnvironment environment)
    {
        if (string.IsNullOrEmpty(value)) return null;
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("ws" or "wss" or "btp+ws" or "btp+wss"))
        {
            Error(key, value, "a ws://, wss://, btp+ws:// or btp+wss:// URL with a host and port");
            return null;
        }
        if (environment == DeploymentEnvironment.Production && uri.Scheme is "ws" or "btp+ws")
            Error(key, Redact(uri), "a wss:// URL: production refuses unencrypted ws:// peers");
        return uri;
    }

    private static string Redact(Uri uri) => string.IsNullOrEmpty(uri.UserInfo) ? uri.ToString() : uri.ToString().Replace(uri.UserInfo, "***", StringComparison.Ordinal);

    private List<Route> BuildRoutes(List<RouteSection> sections, List<PeerSettings> peers, string nodeId)
    {
        var routes = new List<Route>();
        var peerIds = peers.Select(p => p.Id).ToHashSet(StringComparer.Ordinal);
        for (int i = 0; i < sections.Count; i++)
        {
            var r = sections[i];
            string key = $"routes[{i}]";
            string prefix = r.Prefix ?? "";
            if (RoutingTable.ValidatePrefix(prefix) is { } why) Error($"{key}.prefix", prefix, $"an ILP address prefix ({why})");
            string hop = r.NextHop ?? "";
            if (hop != nodeId && !peerIds.Contains(hop))
                Error($"{key}.nextHop", hop, $"the id of a configured peer or our own nodeId '{nodeId}'");
            int priority = (int)UInt($"{key}.priority", r.Priority, 0, 0, int.MaxValue);
            routes.Add(new Route(prefix, hop, priority));
        }
        return routes;
    }

    private static bool IsPeerId(string id) => id.Length is > 0 and <= 128 && IlpAddress.IsValid("g." + id);

    private string? Env(string name) => getEnv(name) is { Length: > 0 } v ? v : null;

    private string? EnvWithAlias(string name, string oldName)
    {
        string? value = Env(name);
        if (value is not null) return value;
        string? old = Env(oldName);
        if (old is not null) _warnings.Add($"{oldName} is deprecated since 2.0; use {name} (run 'm2m-connector config migrate' to rewrite your .env)");
        return old;
    }

    private void Error(string key, string value, string expected) =>
        _errors.Add($"{key}: '{ConfigValues.ForError(value)}' is invalid; expected {expected}");

    private int Port(string key, string? value, int fallback) => (int)UInt(key, value, (ulong)fallback, 0, 65535);

    /// <summary>A typed setting: the enum member spelled <paramref name="value"/>, or the fallback with one error naming the allowed values.</summary>
    private T OneOf<T>(string key, string? value, T fallback) where T : struct, Enum
    {
        if (value is null) return fallback;
        if (SettingNames.TryParse(value.Trim(), out T parsed)) return parsed;
        Error(key, value, "one of " + SettingNames.Allowed<T>());
        return fallback;
    }

    private string OneOf(string key, string? value, string fallback, params string[] allowed)
    {
        if (value is null) return fallback;
        string v = value.Trim().ToLowerInvariant();
        if (allowed.Contains(v)) return v;
        Error(key, value, "one of " + string.Join(", ", allowed.Distinct()));
        return fallback;
    }

    private ulong UInt(string key, string? value, ulong fallback, ulong min, ulong max)
    {
        if (value is null) return fallback;
        if (ulong.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out ulong v) && v >= min && v <= max) return v;
        Error(key, value, $"a whole number from {min} to {max}");
        return fallback;
    }

    private ulong? OptionalUInt(string key, string? value) => value is null ? null : UInt(key, value, 0, 0, ulong.MaxValue);

    private TimeSpan Millis(string key, string? value, TimeSpan fallback, ulong min, ulong max) =>
        value is null ? fallback : TimeSpan.FromMilliseconds(UInt(key, value, (ulong)fallback.TotalMilliseconds, min, max));
}
