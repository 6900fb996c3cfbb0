using M2M.Core.Migrations;
using M2M.Ledger.Postgres;
using M2M.Ledger.Sqlite;
using M2M.Server.Accounting;
using M2M.Server.Configuration;
using M2M.Settlement.Coordination;
using M2M.Settlement.Evm;

namespace M2M.Server.Data;

/// <summary>One durable store of the connector. <see cref="Migrations"/> is null for stores migrated by their own tool (the wallet store: `migrate-wallet`).</summary>
public sealed record DataStore(string Name, string Path, MigrationSet? Migrations);

/// <summary>Where every store of a configured connector lives (the files `backup`, `restore` and the start-up gate work on).</summary>
public static class DataStores
{
    public const string Ledger = "ledger";
    public const string Wallets = "wallets";

    /// <summary>The SQLite stores, ledger first (absent when the ledger is PostgreSQL). Files may not exist yet.</summary>
    public static IReadOnlyList<DataStore> SqliteStores(ConnectorSettings settings)
    {
        var list = new List<DataStore>();
        if (settings.Ledger.Backend == LedgerBackend.Sqlite) list.Add(new DataStore(Ledger, Path.GetFullPath(settings.Ledger.Path), SqliteLedger.Migrations));
        // settlements.db: since 2.1 the settlement tables are in the SQLite ledger's file (backed up with it); a file
        // left by an earlier release is still checked, backed up and restored until the next start imports it.
        list.Add(new DataStore("settlements", ConnectorSettlement.StorePath(settings), SettlementStore.Migrations));
        list.Add(new DataStore("evm-channels", ConnectorSettlement.SiblingPath(settings, "evm-channels.db"), EvmChannelStore.Migrations));
        list.Add(new DataStore("evm-claims", ConnectorSettlement.SiblingPath(settings, "evm-claims.db"), EvmClaimStore.Migrations));
        list.Add(new DataStore("accounts", Accounts.HostedAccounts.StorePath(settings), Accounts.AccountStore.Migrations));
        list.Add(new DataStore(Wallets, WalletPath(), null));
        return list;
    }

    /// <summary>The PostgreSQL ledger's migrations, when that is the backend.</summary>
    public static MigrationSet? PostgresMigrations(ConnectorSettings settings) => settings.Ledger.Backend == LedgerBackend.Postgres ? PostgresLedger.Migrations : null;

    /// <summary>WALLET_DB_PATH, else ./data/wallet/agent-wallets.db (as `migrate-wallet`).</summary>
    public static string WalletPath() => Path.GetFullPath(M2M.Server.Configuration.ConfigLoader.Variable("WALLET_DB_PATH") is { Length: > 0 } p ? p : "./data/wallet/agent-wallets.db");

    /// <summary>The directory holding settlements.db (beside the SQLite ledger, ./data for PostgreSQL).</summary>
    public static string DataDirectory(ConnectorSettings settings) => Path.GetDirectoryName(ConnectorSettlement.StorePath(settings))!;

    /// <summary>Automatic pre-migration backups go here.</summary>
    public static string BackupsDirectory(ConnectorSettings settings) => Path.Combine(DataDirectory(settings), "backups");

    /// <summary>The newest backup directory (one with a manifest) under <see cref="BackupsDirectory"/>, if any.</summary>
    public static string? LatestBackup(ConnectorSettings settings)
    {
        string dir = BackupsDirectory(settings);
        if (!Directory.Exists(dir)) return null;
        return Directory.GetDirectories(dir).Where(d => File.Exists(Path.Combine(d, BackupManifest.FileName)))
            .OrderByDescending(d => Directory.GetLastWriteTimeUtc(d)).FirstOrDefault();
    }
}
