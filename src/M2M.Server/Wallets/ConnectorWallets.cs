using M2M.Server.Configuration;
using M2M.Wallets;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace M2M.Server.Wallets;

/// <summary>
/// The connector's agent wallet store, opened once at start. The connector runs without it (packets do not
/// need wallets): then <see cref="Store"/> is null and <see cref="Unavailable"/> says what the operator must set.
/// </summary>
public sealed partial class ConnectorWallets : IDisposable
{
    private readonly ILogger _log;
    private M2M.Migrations.StoreLock? _owner;

    private ConnectorWallets(WalletSettings settings, ILogger log)
    {
        _log = log;
        Settings = settings;
        Evm = settings.EvmRpcUrl is null ? null : new EvmBalanceReader(settings.EvmRpcUrl);
    }

    public WalletSettings Settings { get; }
    public WalletStore? Store { get; private set; }
    /// <summary>Why the store is not open (for the 503 answer); null when it is.</summary>
    public string? Unavailable { get; private set; }
    public EvmBalanceReader? Evm { get; }

    public static ConnectorWallets Open(WalletSettings settings, ILogger log)
    {
        var w = new ConnectorWallets(settings, log);
        w.Unavailable = w.TryOpen();
        if (w.Unavailable is null) w.LogOpened(settings.Path, w.Store!.List().Count, settings.EvmRpcUrl is not null);
        else if (settings.Password is null) w.LogNotConfigured(w.Unavailable);
        else w.LogUnavailable(w.Unavailable);
        return w;
    }

    private string? TryOpen()
    {
        var path = Path.GetFullPath(Settings.Path);
        if (Settings.Password is null)
            return "agent wallets are not configured: set WALLET_PASSWORD (or WALLET_PASSWORD_FILE) and create the store with `m2m-connector wallet init`";
        if (!File.Exists(path))
            return $"wallet store {path} does not exist: create it with `m2m-connector wallet init` (or set WALLET_DB_PATH / wallet.path)";
        try
        {
            // Held while running, so `migrate-wallet` (which takes the same OS lock) is refused meanwhile.
            _owner = M2M.Migrations.StoreLock.Acquire(path, legacyLockFile: false);
            Store = WalletStore.OpenExisting(path, Settings.Password);
            return null;
        }
        catch (M2M.Migrations.StoreLockException e)
        {
            return $"wallet store {e.Message}";
        }
        catch (WalletPasswordException)
        {
            return $"wallet store {path} could not be opened: wrong wallet password (check WALLET_PASSWORD / WALLET_PASSWORD_FILE)";
        }
        catch (Exception e) when (e is WalletStoreException or SqliteException or IOException or UnauthorizedAccessException)
        {
            return $"wallet store {path} could not be opened: {e.Message}";
        }
        finally
        {
            if (Store is null)
            {
                _owner?.Dispose();
                _owner = null;
            }
        }
    }

    public void Dispose()
    {
        Store?.Dispose();
        _owner?.Dispose(); // after the store's connections are closed
    }

    [LoggerMessage(EventId = 7101, Level = LogLevel.Information, Message = "Agent wallet store {Path} open: {Agents} agents, EVM balances {EvmBalances}")]
    private partial void LogOpened(string path, int agents, bool evmBalances);

    [LoggerMessage(EventId = 7103, Level = LogLevel.Information, Message = "Agent wallet API off: {Reason}")]
    private partial void LogNotConfigured(string reason);

    [LoggerMessage(EventId = 7102, Level = LogLevel.Error, Message = "Agent wallet API unavailable: {Reason}")]
    private partial void LogUnavailable(string reason);
}
