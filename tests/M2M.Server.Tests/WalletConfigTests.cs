using M2M.Server.Configuration;

namespace M2M.Server.Tests;

[Trait("Tier", "integration")]
public sealed class WalletConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("m2m-wallet-config-").FullName;
    private readonly Dictionary<string, string> _env = [];

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private ConnectorSettings Load(string yaml) => new ConfigLoader(n => _env.GetValueOrDefault(n)).Load(Write(yaml));

    private IReadOnlyList<string> Errors(string yaml) =>
        Assert.Throws<ConfigException>(() => Load(yaml)).Errors;

    private string Write(string text, string name = "c.yaml")
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void No_wallet_section_gives_the_contract_default_and_no_password()
    {
        var w = Load("nodeId: a\n").Wallet;
        Assert.Equal("./data/wallet/agent-wallets.db", w.Path);
        Assert.Null(w.Password);
        Assert.Null(w.EvmRpcUrl);
    }

    [Fact]
    public void Yaml_section_and_environment_overrides()
    {
        var pwFile = Write("from-file\n", "pw.txt");
        var yaml = $"nodeId: a\nwallet:\n  path: /var/lib/m2m/w.db\n  passwordFile: {pwFile}\n  evmRpcUrl: http://evm.internal:8545\n";
        var w = Load(yaml).Wallet;
        Assert.Equal(("/var/lib/m2m/w.db", "from-file", new Uri("http://evm.internal:8545")), (w.Path, w.Password, w.EvmRpcUrl));

        _env["WALLET_DB_PATH"] = "/env/w.db";
        _env["WALLET_PASSWORD"] = "from-env";
        _env["WALLET_EVM_RPC_URL"] = "https://rpc.example:443";
        w = Load(yaml).Wallet;
        Assert.Equal(("/env/w.db", "from-env", "rpc.example"), (w.Path, w.Password, w.EvmRpcUrl!.Host));

        _env.Remove("WALLET_PASSWORD");
        _env["WALLET_PASSWORD_FILE"] = Write("second\r\n", "pw2.txt");
        Assert.Equal("second", Load(yaml).Wallet.Password);
    }

    [Fact]
    public void Bad_wallet_values_are_one_line_each_and_never_echo_the_password()
    {
        _env["WALLET_PASSWORD_FILE"] = Path.Combine(_dir, "missing.txt");
        var errors = Errors("nodeId: a\nwallet:\n  evmRpcUrl: ftp://x\n");
        Assert.Contains(errors, e => e.StartsWith("WALLET_PASSWORD_FILE:", StringComparison.Ordinal) && e.Contains("readable file", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("wallet.evmRpcUrl (WALLET_EVM_RPC_URL): 'ftp://x' is invalid", StringComparison.Ordinal));

        _env["WALLET_PASSWORD_FILE"] = Write("", "empty.txt");
        Assert.Contains("it is empty", Assert.Single(Errors("nodeId: a\n")));

        _env.Remove("WALLET_PASSWORD_FILE");
        _env["ENVIRONMENT"] = "production";
        Assert.Contains("production refuses localhost RPCs", Assert.Single(Errors("nodeId: a\nwallet:\n  evmRpcUrl: http://127.0.0.1:8545\n")));
    }

    [Fact]
    public void Unknown_wallet_keys_are_errors_naming_the_key_and_a_password_in_yaml_is_refused()
    {
        Assert.Contains("unknown key 'pasword' in wallet", Assert.Single(Errors("nodeId: a\nwallet:\n  pasword: x\n")));
        Assert.Contains("unknown key 'password' in wallet", Assert.Single(Errors("nodeId: a\nwallet:\n  password: hunter2\n")));
    }

    [Fact]
    public void The_password_never_appears_in_the_settings_text()
    {
        _env["WALLET_PASSWORD"] = "s3cret-wallet-pw";
        var s = Load("nodeId: a\n");
        Assert.Equal("s3cret-wallet-pw", s.Wallet.Password);
        Assert.DoesNotContain("s3cret-wallet-pw", s.ToString());
        Assert.Contains("Password = ***", s.Wallet.ToString());
    }
}
