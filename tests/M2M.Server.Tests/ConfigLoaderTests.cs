using M2M.Core.Switch;
using M2M.Server.Configuration;

namespace M2M.Server.Tests;

[Trait("Tier", "integration")]
public sealed class ConfigLoaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("m2m-config-").FullName;
    private readonly Dictionary<string, string> _env = [];

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private ConfigLoader Loader() => new(name => _env.GetValueOrDefault(name));

    private string Write(string yaml)
    {
        string path = Path.Combine(_dir, $"c{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    private IReadOnlyList<string> Errors(string yaml) =>
        Assert.Throws<ConfigException>(() => Loader().Load(Write(yaml))).Errors;

    private const string OneXFile = """
        nodeId: connector-a
        btpServerPort: 3001
        healthCheckPort: 8081
        logLevel: debug
        peers:
          - id: connector-b
            url: ws://connector-b:3000
            authToken: secret-b
        routes:
          - prefix: g.connector-b
            nextHop: connector-b
            priority: 0
          - prefix: g.connector-a
            nextHop: connector-a
            priority: 1
        """;

    [Fact]
    public void A_1x_file_loads_unchanged()
    {
        var s = Loader().Load(Write(OneXFile));

        Assert.Equal(("connector-a", "g.connector-a", 3001, 8081, ConnectorLogLevel.Debug), (s.NodeId, s.IlpAddress, s.BtpServerPort, s.HealthCheckPort, s.LogLevel));
        var peer = Assert.Single(s.Peers);
        Assert.Equal(new Uri("ws://connector-b:3000"), peer.Url);
        Assert.Equal("secret-b", peer.AuthToken);
        Assert.Equal(PeerRelation.Peer, peer.Relation);
        Assert.Equal(2, s.Routes.Count);
    }

    [Fact]
    public void Environment_overrides_the_file_and_old_names_warn()
    {
        _env["NODE_ID"] = "from-env";
        _env["BTP_PORT"] = "4000";
        _env["HEALTH_CHECK_PORT"] = "9090";
        _env["SETTLEMENT_METHOD"] = "evm";
        var loader = Loader();

        var s = loader.Load(Write(OneXFile.Replace("nextHop: connector-a", "nextHop: from-env")));

        Assert.Equal(("from-env", 4000, 9090, "evm"), (s.NodeId, s.BtpServerPort, s.HealthCheckPort, s.SettlementPreference));
        Assert.Contains(loader.Warnings, w => w.Contains("BTP_PORT is deprecated") && w.Contains("BTP_SERVER_PORT"));
        Assert.Contains(loader.Warnings, w => w.Contains("SETTLEMENT_METHOD is deprecated"));
    }

    [Fact]
    public void New_names_win_over_the_deprecated_ones()
    {
        _env["BTP_PORT"] = "4000";
        _env["BTP_SERVER_PORT"] = "5000";
        var loader = Loader();
        Assert.Equal(5000, loader.Load(null).BtpServerPort);
        Assert.Empty(loader.Warnings);
    }

    [Fact]
    public void Variables_in_values_are_expanded_and_a_missing_one_is_named()
    {
        _env["B_TOKEN"] = "expanded-token";
        var s = Loader().Load(Write(OneXFile.Replace("secret-b", "${B_TOKEN}").Replace("3001", "${PORT:-3999}")));
        Assert.Equal("expanded-token", s.Peers[0].AuthToken);
        Assert.Equal(3999, s.BtpServerPort);

        var error = Assert.Single(Errors(OneXFile.Replace("secret-b", "${NOT_SET_ANYWHERE}")));
        Assert.Contains("NOT_SET_ANYWHERE", error);
        Assert.Contains(":8:", error);
    }

    [Fact]
    public void Inbound_secret_comes_from_BTP_PEER_ID_SECRET_first()
    {
        _env["BTP_PEER_AGENT_7_SECRET"] = "env-secret";
        var s = Loader().Load(Write("nodeId: n\npeers:\n  - id: agent-7\n    authToken: file-secret\n"));
        Assert.Equal("env-secret", s.Peers[0].AuthToken);
    }

    [Theory]
    [InlineData("nodeId: n\nbtpServerPort: 70000\n", "btpServerPort", "70000")]
    [InlineData("nodeId: n\nhealthCheckPort: http\n", "healthCheckPort", "http")]
    [InlineData("nodeId: n\nlogLevel: chatty\n", "logLevel", "chatty")]
    [InlineData("nodeId: 'bad id'\n", "nodeId", "bad id")]
    [InlineData("nodeId: n\nilpAddress: nope\n", "ilpAddress", "nope")]
    [InlineData("nodeId: n\npeers:\n  - id: p\n    url: http://x:1\n", "peers[0].url", "http://x:1")]
    [InlineData("nodeId: n\npeers:\n  - id: p\n    relation: cousin\n", "peers[0].relation", "cousin")]
    [InlineData("nodeId: n\npeers:\n  - id: p\n    maxPacketAmount: -5\n", "peers[0].maxPacketAmount", "-5")]
    [InlineData("nodeId: n\npeers:\n  - id: p\n    asset: { code: USD, scale: 300 }\n", "peers[0].asset.scale", "300")]
    [InlineData("nodeId: n\nroutes:\n  - { prefix: g.x, nextHop: ghost }\n", "routes[0].nextHop", "ghost")]
    [InlineData("nodeId: n\nroutes:\n  - { prefix: 'g..x', nextHop: n }\n", "routes[0].prefix", "g..x")]
    [InlineData("nodeId: n\nledger: { backend: oracle }\n", "ledger.backend", "oracle")]
    [InlineData("nodeId: n\nlimits: { maxHoldTimeMs: 0 }\n", "limits.maxHoldTimeMs", "0")]
    [InlineData("nodeId: n\npeers:\n  - id: p\n    settlement: { settleTo: 5 }\n", "peers[0].settlement.threshold", "")]
    [InlineData("nodeId: n\npeers:\n  - id: p\n    settlement: { threshold: 10, settleTo: 10 }\n", "peers[0].settlement.settleTo", "10")]
    [InlineData("nodeId: n\npeers:\n  - id: p\n    settlement: { threshold: 10, method: rfc38 }\n", "peers[0].settlement.engineUrl", "")]
    [InlineData("nodeId: n\npeers:\n  - id: p\n    settlement: { threshold: 10, method: wire }\n", "peers[0].settlement.method", "wire")]
    public void Each_bad_value_is_reported_with_its_key_and_value(string yaml, string key, string value)
    {
        var error = Assert.Single(Errors(yaml));
        Assert.StartsWith(key, error);
        Assert.Contains($"'{value}'", error);
        Assert.Contains("expected", error);
    }

    private const string EvmPeer = "nodeId: n\npeers:\n  - id: p\n    settlement:\n      threshold: 100\n      method: evm\n      evm: { rpcUrl: 'http://127.0.0.1:8545', chainId: 1337, contract: '0x5b1869D9A4C187F2EAa108f3062412ecf0526b24', peerAddress: '0x22d491Bde2303f2f43325b2108D26f1eAbA1e32b', depositWei: '1000000000000000000', disputePeriodSeconds: 600 }\n";

    [Fact]
    public void Evm_settlement_section_and_EVM_PRIVATE_KEY_are_loaded()
    {
        _env["EVM_PRIVATE_KEY"] = "0x6cbed15c793ce57650b9877cf6fa156fbef513c4e6134f022a85b1ffdd59b2a1";
        var s = Loader().Load(Write(EvmPeer));
        var evm = s.Peers[0].Settlement!.Evm!;
        Assert.Equal((new Uri("http://127.0.0.1:8545"), (System.Numerics.BigInteger)1337, 600ul), (evm.RpcUrl, evm.ChainId, evm.DisputePeriodSeconds));
        Assert.Equal(System.Numerics.BigInteger.Pow(10, 18), evm.DepositWei);
        Assert.Equal(_env["EVM_PRIVATE_KEY"], s.EvmPrivateKey);
    }

    [Fact]
    public void A_one_shot_loader_does_not_require_EVM_PRIVATE_KEY_but_still_checks_one_that_is_set()
    {
        var loader = new ConfigLoader(name => _env.GetValueOrDefault(name)) { OneShot = true };
        var s = loader.Load(Write(EvmPeer));
        Assert.NotNull(s.Peers[0].Settlement!.Evm);
        Assert.Null(s.EvmPrivateKey);
        Assert.Contains(Errors(EvmPeer), e => e.StartsWith("EVM_PRIVATE_KEY", StringComparison.Ordinal)); // run still needs it

        _env["EVM_PRIVATE_KEY"] = "not-a-key";
        var bad = Assert.Throws<ConfigException>(() => loader.Load(Write(EvmPeer))).Errors;
        Assert.Contains(bad, e => e.StartsWith("EVM_PRIVATE_KEY", StringComparison.Ordinal) && e.Contains("64 hex digits", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false, null, "Host=127.0.0.1;Database=m2m", 2)]
    [InlineData(true, null, "Host=127.0.0.1;Database=m2m", 15)]
    [InlineData(false, "30", "Host=127.0.0.1;Database=m2m", 30)]
    [InlineData(true, "30", "Host=127.0.0.1;Database=m2m", 30)]
    [InlineData(false, "30", "Host=127.0.0.1;Database=m2m;Timeout=7", 7)]
    [InlineData(true, null, "postgres://u:p@127.0.0.1:5432/m2m?connect_timeout=9", 9)]
    [InlineData(false, null, "postgres://u:p@127.0.0.1:5432/m2m?Timeout=11", 11)]
    public void The_postgres_connect_timeout_comes_from_the_url_then_the_yaml_then_the_commands_default(bool oneShot, string? yaml, string url, int expected)
    {
        _env["LEDGER_BACKEND"] = "postgres";
        _env["LEDGER_POSTGRES_URL"] = url;
        string file = yaml is null ? "nodeId: n\n" : $"nodeId: n\nledger:\n  postgresConnectTimeoutSeconds: {yaml}\n";
        var s = new ConfigLoader(name => _env.GetValueOrDefault(name)) { OneShot = oneShot }.Load(Write(file));
        Assert.Equal(expected, s.Ledger.PostgresConnectTimeoutSeconds);
    }

    [Fact]
    public void Libpqs_connect_timeout_in_a_url_is_npgsqls_Timeout()
    {
        Assert.Equal(9, M2M.Ledger.Postgres.PostgresConnectionString.Parse("postgres://u:p@127.0.0.1:5432/m2m?connect_timeout=9").Timeout);
        Assert.Null(M2M.Ledger.Postgres.PostgresConnectionString.ExplicitConnectTimeout("postgres://u:p@127.0.0.1:5432/m2m?sslmode=disable"));
        Assert.Null(M2M.Ledger.Postgres.PostgresConnectionString.ExplicitConnectTimeout("Host=127.0.0.1;Command Timeout=5"));
    }

    [Fact]
    public void A_bad_postgres_connect_timeout_is_one_error_with_its_key()
    {
        var error = Assert.Single(Errors("nodeId: n\nledger:\n  postgresConnectTimeoutSeconds: 0\n"));
        Assert.StartsWith("ledger.postgresConnectTimeoutSeconds: '0'", error);
        Assert.Contains("1 to 300", error);
    }

    [Theory]
    [InlineData("rpcUrl: 'http://127.0.0.1:8545'", "rpcUrl: 'ftp://x'", "peers[0].settlement.evm.rpcUrl")]
    [InlineData("chainId: 1337", "chainId: 0", "peers[0].settlement.evm.chainId")]
    [InlineData("contract: '0x5b1869D9A4C187F2EAa108f3062412ecf0526b24'", "contract: '0x12'", "peers[0].settlement.evm.contract")]
    [InlineData("peerAddress: '0x22d491Bde2303f2f43325b2108D26f1eAbA1e32b'", "peerAddress: 'bob'", "peers[0].settlement.evm.peerAddress")]
    [InlineData("depositWei: '1000000000000000000'", "depositWei: '-1'", "peers[0].settlement.evm.depositWei")]
    [InlineData("disputePeriodSeconds: 600", "disputePeriodSeconds: 0", "peers[0].settlement.evm.disputePeriodSeconds")]
    public void Each_bad_evm_value_is_reported_with_its_key(string good, string bad, string key)
    {
        _env["EVM_PRIVATE_KEY"] = "0x6cbed15c793ce57650b9877cf6fa156fbef513c4e6134f022a85b1ffdd59b2a1";
        var error = Assert.Single(Errors(EvmPeer.Replace(good, bad, StringComparison.Ordinal)));
        Assert.StartsWith(key, error);
        Assert.Contains("expected", error);
    }

    [Theory]
    [InlineData("0xE11BA2b4D45Eaed5996Cd0823791E0C93114882d")] // EIP-55 checksummed
    [InlineData("0xe11ba2b4d45eaed5996cd0823791e0c93114882d")] // all lower case: no checksum to check
    public void Evm_token_is_loaded_and_absent_means_ETH(string token)
    {
        _env["EVM_PRIVATE_KEY"] = "0x6cbed15c793ce57650b9877cf6fa156fbef513c4e6134f022a85b1ffdd59b2a1";
        Assert.Null(Loader().Load(Write(EvmPeer)).Peers[0].Settlement!.Evm!.Token);
        var evm = Loader().Load(Write(EvmPeer.Replace("disputePeriodSeconds: 600", $"disputePeriodSeconds: 600, token: '{token}'", StringComparison.Ordinal))).Peers[0].Settlement!.Evm!;
        Assert.Equal(token, evm.Token);
        Assert.Equal(token.ToLowerInvariant(), evm.Asset);
    }

    [Theory]
    [InlineData("USDC", "0x and 40 hex digits")]
    [InlineData("0x0000000000000000000000000000000000000000", "not the zero address")]
    [InlineData("0xe11BA2b4D45Eaed5996Cd0823791E0C93114882d", "EIP-55 checksum")] // one letter's case changed
    [InlineData("0x5b1869D9A4C187F2EAa108f3062412ecf0526b24", "not the channel contract")] // the contract itself
    public void A_bad_evm_token_is_one_error_naming_the_key(string token, string expected)
    {
        _env["EVM_PRIVATE_KEY"] = "0x6cbed15c793ce57650b9877cf6fa156fbef513c4e6134f022a85b1ffdd59b2a1";
        var error = Assert.Single(Errors(EvmPeer.Replace("disputePeriodSeconds: 600", $"disputePeriodSeconds: 600, token: '{token}'", StringComparison.Ordinal)));
        Assert.StartsWith($"peers[0].settlement.evm.token: '{token}' is invalid; expected", error);
        Assert.Contains(expected, error);
        Assert.DoesNotContain("\n", error);
    }

    [Fact]
    public void A_misspelt_token_key_is_caught_by_the_shape_check()
    {
        _env["EVM_PRIVATE_KEY"] = "0x6cbed15c793ce57650b9877cf6fa156fbef513c4e6134f022a85b1ffdd59b2a1";
        var error = Assert.Single(Errors(EvmPeer.Replace("disputePeriodSeconds: 600", "disputePeriodSeconds: 600, tokn: '0xE11BA2b4D45Eaed5996Cd0823791E0C93114882d'", StringComparison.Ordinal)));
        Assert.Contains("unknown key 'tokn' in peers[].settlement.evm (did you mean 'token'?)", error);
    }

    [Fact]
    public void Evm_needs_a_valid_private_key_which_is_never_echoed_and_a_scale_of_at_most_18()
    {
        Assert.StartsWith("EVM_PRIVATE_KEY", Assert.Single(Errors(EvmPeer)));
        _env["EVM_PRIVATE_KEY"] = "0xnot-a-key-secret";
        var error = Assert.Single(Errors(EvmPeer));
        Assert.StartsWith("EVM_PRIVATE_KEY", error);
        Assert.DoesNotContain("not-a-key-secret", error);
        _env["EVM_PRIVATE_KEY"] = "0x6cbed15c793ce57650b9877cf6fa156fbef513c4e6134f022a85b1ffdd59b2a1";
        Assert.StartsWith("peers[0].asset.scale", Assert.Single(Errors(EvmPeer.Replace("    settlement:", "    asset: { code: WEI, scale: 19 }\n    settlement:", StringComparison.Ordinal))));
    }

    [Fact]
    public void Settlement_method_defaults_to_SETTLEMENT_PREFERENCE()
    {
        _env["SETTLEMENT_PREFERENCE"] = "both";
        var s = Loader().Load(Write("nodeId: n\npeers:\n  - id: p\n    settlement: { threshold: 1000 }\n  - id: q\n    settlement: { threshold: 9, settleTo: 2, method: rfc38, engineUrl: 'http://127.0.0.1:7000' }\n"));
        Assert.Equal(new SettlementSettings(1000, 0, SettlementMethodKind.Evm, null), s.Peers[0].Settlement);
        Assert.Equal(new Uri("http://127.0.0.1:7000/"), s.Peers[1].Settlement!.EngineUrl);
    }

    [Fact]
    public void Explorer_settings_are_read_and_a_short_token_is_one_error_that_never_echoes_it()
    {
        var d = Loader().Load(Write("nodeId: n\n"));
        Assert.Equal((true, 7, 100_000, (string?)null), (d.Explorer.Enabled, d.Explorer.RetentionDays, d.Explorer.MaxEvents, d.Explorer.Token));
        _env["EXPLORER_ENABLED"] = "false";
        _env["EXPLORER_RETENTION_DAYS"] = "2";
        _env["EXPLORER_MAX_EVENTS"] = "500";
        _env["EXPLORER_TOKEN"] = "explorer-token-long-enough";
        var s = Loader().Load(Write("nodeId: n\n"));
        Assert.Equal((false, 2, 500, "explorer-token-long-enough"), (s.Explorer.Enabled, s.Explorer.RetentionDays, s.Explorer.MaxEvents, s.Explorer.Token));
        _env["EXPLORER_TOKEN"] = "short-secret";
        _env["EXPLORER_MAX_EVENTS"] = "5";
        var errors = Errors("nodeId: n\n");
        Assert.Equal(2, errors.Count);
        Assert.Contains(errors, e => e.StartsWith("EXPLORER_TOKEN", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("EXPLORER_MAX_EVENTS", StringComparison.Ordinal));
        Assert.DoesNotContain(errors, e => e.Contains("short-secret", StringComparison.Ordinal));
    }

    [Fact]
    public void Explorer_port_defaults_to_3001_softly_and_an_explicit_port_or_off_is_taken_as_given()
    {
        var d = Loader().Load(Write("nodeId: n\n"));
        Assert.Equal((3001, false), (d.Explorer.Port, d.Explorer.PortRequired));
        _env["EXPLORER_PORT"] = "4001";
        Assert.Equal((4001, true), (Loader().Load(Write("nodeId: n\n")).Explorer.Port, Loader().Load(Write("nodeId: n\n")).Explorer.PortRequired));
        _env["EXPLORER_PORT"] = "OFF";
        Assert.Null(Loader().Load(Write("nodeId: n\n")).Explorer.Port);
        _env["EXPLORER_PORT"] = "4001";
        _env["EXPLORER_ENABLED"] = "false";
        Assert.Null(Loader().Load(Write("nodeId: n\n")).Explorer.Port);
        _env["EXPLORER_ENABLED"] = "true";
        foreach (string bad in new[] { "65536", "-1", "web", "30 01" })
        {
            _env["EXPLORER_PORT"] = bad;
            var error = Assert.Single(Errors("nodeId: n\n"));
            Assert.Equal($"EXPLORER_PORT: '{bad}' is invalid; expected a port from 0 to 65535 (0: any free port), or off", error);
        }
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var errors = Errors("nodeId: n\nbtpServerPort: x\nhealthCheckPort: y\nlogLevel: z\n");
        Assert.Equal(3, errors.Count);
    }

    [Fact]
    public void Unknown_keys_are_an_error_naming_the_key_and_line()
    {
        var error = Assert.Single(Errors("nodeId: n\npeers:\n  - id: p\n    authTokn: x\n"));
        Assert.Contains("unknown key 'authTokn' in a peer", error);
        Assert.Contains(":4:", error);
    }

    [Fact]
    [Trait("Tier", "unit")]
    public void Every_unknown_key_is_reported_at_once_with_its_line_and_a_suggestion()
    {
        var errors = Errors("nodeId: n\nbtpServerPrt: 3000\npeers:\n  - id: p\n    authTokn: x\n    relation: child\n    colour: red\nledger:\n  bakend: sqlite\n");
        Assert.Equal(4, errors.Count);
        Assert.Contains(errors, e => e.Contains(":2:1: unknown key 'btpServerPrt' in the top level (did you mean 'btpServerPort'?)"));
        Assert.Contains(errors, e => e.Contains(":5:5: unknown key 'authTokn' in a peer (did you mean 'authToken'?)"));
        Assert.Contains(errors, e => e.Contains(":7:5: unknown key 'colour' in a peer (expected one of: ") && e.Contains("authToken"));
        Assert.Contains(errors, e => e.Contains(":9:3: unknown key 'bakend' in ledger (did you mean 'backend'?)"));
    }

    [Theory]
    [Trait("Tier", "unit")]
    [InlineData("nodeId: n\npeers: alice\n", ":2:8: 'peers' must be a list (one '- ' line per entry), found the value 'alice'")]
    [InlineData("nodeId: n\nledger: sqlite\n", ":2:9: 'ledger' must be a section of 'key: value' lines, found the value 'sqlite'")]
    [InlineData("nodeId:\n  - a\n  - b\n", ":2:3: 'nodeId' must be a single value, found a list")]
    [InlineData("nodeId: n\npeers:\n  - id: p\n   url: ws://h:1\n", "not indented like the lines around it")]
    [InlineData("nodeId: \"n\n", "a quoted value is not closed")]
    public void Yaml_mistakes_are_told_in_plain_words_with_the_line(string yaml, string expected)
    {
        var error = Assert.Single(Errors(yaml));
        Assert.Contains(expected, error);
        Assert.DoesNotContain("M2M.Server", error); // no type names
        Assert.DoesNotContain("MappingStart", error);
    }

    [Fact]
    [Trait("Tier", "unit")]
    public void The_quick_start_listens_on_loopback_and_placeholder_secrets_are_refused_where_others_can_reach_the_node()
    {
        const string yaml = "nodeId: n\npeers:\n  - id: agent-1\n    authToken: ${BTP_PEER_AGENT_1_SECRET:-dev-secret-agent-1}\n";
        var quick = Loader().Load(Write(yaml));
        Assert.Equal("127.0.0.1", quick.BindAddress);
        Assert.Equal("dev-secret-agent-1", quick.Peers[0].AuthToken);

        _env["BIND_ADDRESS"] = "0.0.0.0";
        var exposed = Assert.Single(Errors(yaml));
        Assert.Equal("peer 'agent-1' secret (BTP_PEER_AGENT_1_SECRET or authToken): the example's well-known placeholder secret is refused because BIND_ADDRESS 0.0.0.0 accepts other hosts; expected a long random string (e.g. openssl rand -hex 32)", exposed);
        _env["BTP_PEER_AGENT_1_SECRET"] = "4f1c0e9a7b2d5e8f";
        Assert.Equal("4f1c0e9a7b2d5e8f", Loader().Load(Write(yaml)).Peers[0].AuthToken);

        _env.Remove("BIND_ADDRESS");
        _env["ENVIRONMENT"] = "staging";
        _env["ADMIN_API_TOKEN"] = "change-me-admin-token";
        var staging = Assert.Single(Errors(yaml));
        Assert.StartsWith("ADMIN_API_TOKEN: the example's well-known placeholder secret is refused because ENVIRONMENT is staging", staging);
        Assert.DoesNotContain("change-me-admin", staging);

        _env["BIND_ADDRESS"] = "everywhere";
        Assert.Contains(Errors(yaml), e => e.StartsWith("BIND_ADDRESS: 'everywhere' is invalid; expected an IP address", StringComparison.Ordinal));
    }

    [Fact]
    public void Duplicate_peers_and_missing_files_are_errors()
    {
        Assert.Contains("used twice", Assert.Single(Errors("nodeId: n\npeers:\n  - id: p\n  - id: p\n")));
        var missing = Assert.Throws<ConfigException>(() => Loader().Load(Path.Combine(_dir, "absent.yaml")));
        Assert.Contains("does not exist", missing.Message);
    }

    [Fact]
    public void Production_refuses_unencrypted_peers()
    {
        _env["ENVIRONMENT"] = "production";
        var error = Assert.Single(Errors("nodeId: n\npeers:\n  - id: p\n    url: ws://user:pw@host:1\n    authToken: t\n"));
        Assert.Contains("wss://", error);
        Assert.DoesNotContain("pw", error);
    }

    [Fact]
    public void Without_a_file_the_built_in_single_node_default_is_used()
    {
        var s = Loader().Load(null);
        Assert.Equal(("m2m-connector", 3000, 8080, LedgerBackend.Sqlite, "./data/ledger.db"), (s.NodeId, s.BtpServerPort, s.HealthCheckPort, s.Ledger.Backend, s.Ledger.Path));
        Assert.Empty(s.Peers);
    }

    [Fact]
    public void Strings_become_typed_settings_and_a_bad_value_is_one_line_naming_the_allowed_ones()
    {
        _env["ENVIRONMENT"] = "Staging";
        _env["LEDGER_BACKEND"] = "postgres";
        _env["LEDGER_POSTGRES_URL"] = "Host=127.0.0.1";
        var s = Loader().Load(Write("nodeId: a\nlogLevel: WARN\npeers:\n  - id: b\n    authToken: t\n    settlement: {threshold: '10', method: rfc38, engineUrl: 'http://127.0.0.1:1'}\n"));
        Assert.Equal((DeploymentEnvironment.Staging, ConnectorLogLevel.Warn, LedgerBackend.Postgres, SettlementMethodKind.Rfc38),
            (s.Environment, s.LogLevel, s.Ledger.Backend, s.Peers[0].Settlement!.Method));
        Assert.Equal("rfc38", s.Peers[0].Settlement!.Method.ConfigName());

        _env["LEDGER_BACKEND"] = "mysql";
        _env["ENVIRONMENT"] = "1"; // a number is not a name
        var errors = Errors("nodeId: a\nlogLevel: loud\npeers:\n  - id: b\n    authToken: t\n    settlement: {threshold: '10', method: cash}\n");
        Assert.Contains("ledger.backend: 'mysql' is invalid; expected one of sqlite, postgres", errors);
        Assert.Contains("ENVIRONMENT: '1' is invalid; expected one of development, staging, production", errors);
        Assert.Contains("logLevel (LOG_LEVEL): 'loud' is invalid; expected one of debug, info, warn, error", errors);
        Assert.Contains("peers[0].settlement.method: 'cash' is invalid; expected one of evm, xrp, rfc38, btp-transfer, none", errors);
    }

    [Fact]
    public void Test_seams_are_read_by_the_loader_and_absent_in_production()
    {
        Assert.Equal(M2M.Core.Diagnostics.TestSeams.None, Loader().ReadTestSeams());
        _env["M2M_CRASHPOINT"] = "before-forward";
        _env["M2M_CRASHPOINT_SKIP"] = "7";
        _env["M2M_PAUSEPOINT"] = "after-void-commit";
        _env["M2M_TEST_EXTRA_MIGRATIONS"] = "/tmp/extra";
        _env["M2M_SIMULATE_SCHEMA_VERSION"] = "2";
        Assert.Equal(new M2M.Core.Diagnostics.TestSeams("before-forward", "after-void-commit", 7, "/tmp/extra", 2), Loader().ReadTestSeams());
        _env["M2M_SIMULATE_SCHEMA_VERSION"] = "0"; // not a version: ignored, as before
        Assert.Null(Loader().ReadTestSeams().SimulatedSchemaVersion);
        Assert.False(Loader().ReadTestSeams().BenchNullLedger);
        _env["M2M_BENCH_NULL_LEDGER"] = "1"; // bench/compare.sh's no-ledger row
        Assert.True(Loader().ReadTestSeams().BenchNullLedger);
    }

    [Fact]
    public void The_shipped_examples_are_valid()
    {
        string root = RepoRoot();
        var files = Directory.GetFiles(Path.Combine(root, "examples"), "*.yaml");
        // The shipped examples: an empty or renamed folder fails instead of passing with nothing checked.
        Assert.Equal(["exchange.yaml", "production-single-node.yaml", "single-node.yaml", "two-peers.yaml"], files.Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var file in files)
        {
            _env["BTP_PEER_ALICE_SECRET"] = "a";
            _env["BOB_TOKEN"] = "b";
            _env["UPSTREAM_BTP_TOKEN"] = "u"; // examples/production-single-node.yaml
            var s = Loader().Load(file);
            Assert.False(string.IsNullOrEmpty(s.NodeId), file);
        }
    }

    internal static string RepoRoot() => M2M.TestKit.RepoPaths.Root;
}
