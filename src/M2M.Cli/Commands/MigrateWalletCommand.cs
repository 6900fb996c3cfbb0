using System.CommandLine;
using M2M.Wallets;

namespace M2M.Cli;

/// <summary>`migrate-wallet --from=1.0 --to=2.0 [--dry-run] [--path P]`: the guide's wallet database migration.</summary>
internal static class MigrateWalletCommand
{
    public static Command Create()
    {
        var from = new Option<string>("--from") { Description = "Layout version the file has now (1.0)", Required = true };
        var to = new Option<string>("--to") { Description = "Layout version to migrate to (2.0)", Required = true };
        var dryRun = new Option<bool>("--dry-run") { Description = "Report what would change and write nothing" };
        var path = new Option<string>("--path")
        {
            Description = "Wallet database (default: $WALLET_DB_PATH, else ./data/wallet/agent-wallets.db)",
            DefaultValueFactory = _ => M2M.Server.Configuration.ConfigLoader.Variable("WALLET_DB_PATH") is { Length: > 0 } p ? p : "./data/wallet/agent-wallets.db",
        };
        var command = new Command("migrate-wallet", "Migrate the agent wallet database between layout versions, with a verified backup first.") { from, to, dryRun, path };
        command.SetAction((parse, _) => RunAsync(parse.GetValue(path)!, parse.GetValue(from)!, parse.GetValue(to)!, parse.GetValue(dryRun)));
        return command;
    }

    private static async Task<int> RunAsync(string path, string from, string to, bool dryRun)
    {
        if (!File.Exists(path))
        {
            Console.Error.WriteLine($"error: wallet database {Path.GetFullPath(path)} does not exist (set --path or WALLET_DB_PATH)");
            return 1;
        }
        try
        {
            // A writer owns the store (the same OS lock a running connector holds on it): never two at once.
            using var owner = dryRun ? null : M2M.Migrations.StoreLock.Acquire(path, legacyLockFile: false);
            var report = await WorkProgressView.RunAsync((work, _) => Task.FromResult(WalletMigrator.Migrate(path, from, to, dryRun, new WalletMigrationOptions { Progress = work })));
            Console.WriteLine(report.Message);
            Console.WriteLine($"agents: {report.Agents}, wallet rows {(dryRun ? "to write" : "written")}: {report.WalletRowsWritten}, by status: {string.Join(", ", report.AgentsByStatus.Select(kv => $"{kv.Key} {kv.Value}"))}");
            if (report.BackupPath is not null) Console.WriteLine($"backup: {report.BackupPath}");
            if (!dryRun && !report.AlreadyAtTarget)
                Console.WriteLine("next: seal the 1.x mnemonic under WALLET_PASSWORD once: m2m-connector wallet init --import-mnemonic-file FILE (the 1.x encrypted seed is not converted)");
            return 0;
        }
        catch (Exception e) when (e is WalletMigrationException or WalletStoreException or M2M.Migrations.StoreLockException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}
