namespace M2M.Server.Configuration;

// wallet: {path, passwordFile, evmRpcUrl} with WALLET_DB_PATH, WALLET_PASSWORD, WALLET_PASSWORD_FILE and
// WALLET_EVM_RPC_URL on top. The password is never echoed in an error.
public sealed partial class ConfigLoader
{
    /// <summary>A password file longer than this is surely not a password file (guards against pointing at a big file).</summary>
    private const int MaxPasswordFileBytes = 4096;

    private WalletSettings BuildWallet(WalletSection? w, DeploymentEnvironment environment)
    {
        var path = Env("WALLET_DB_PATH") ?? w?.Path ?? WalletSettings.DefaultPath;
        if (string.IsNullOrWhiteSpace(path)) Error("wallet.path (WALLET_DB_PATH)", path, "the path of agent-wallets.db");
        string? password = Env("WALLET_PASSWORD");
        var passwordFile = Env("WALLET_PASSWORD_FILE") ?? w?.PasswordFile;
        if (password is null && passwordFile is not null)
            password = ReadPasswordFile(passwordFile, Env("WALLET_PASSWORD_FILE") is null ? "wallet.passwordFile" : "WALLET_PASSWORD_FILE");
        return new WalletSettings { Path = path, Password = password, EvmRpcUrl = WalletRpc(Env("WALLET_EVM_RPC_URL") ?? w?.EvmRpcUrl, environment) };
    }

    /// <summary>The whole file minus a trailing newline, as written by `echo secret &gt; file`.</summary>
    private string? ReadPasswordFile(string file, string key)
    {
        string text;
        try
        {
            if (new FileInfo(file).Length > MaxPasswordFileBytes)
            {
                Error(key, file, $"a password file of at most {MaxPasswordFileBytes} bytes");
                return null;
            }
            text = File.ReadAllText(file).TrimEnd('\r', '\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Error(key, file, $"a readable file holding the wallet password ({e.GetType().Name})");
            return null;
        }
        if (text.Length == 0) Error(key, file, "a file holding the wallet password (it is empty)");
        return text.Length == 0 ? null : text;
    }

    private Uri? WalletRpc(string? value, DeploymentEnvironment environment)
    {
        if (value is null) return null;
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || string.IsNullOrEmpty(uri.Host))
        {
            Error("wallet.evmRpcUrl (WALLET_EVM_RPC_URL)", value, "an http:// or https:// JSON-RPC URL of the EVM node for agent balances");
            return null;
        }
        if (environment == DeploymentEnvironment.Production && uri.IsLoopback)
            Error("wallet.evmRpcUrl (WALLET_EVM_RPC_URL)", uri.GetLeftPart(UriPartial.Authority), "a non-localhost EVM node: production refuses localhost RPCs");
        return uri;
    }
}
