using System.CommandLine;
using M2M.Server.Configuration;
using M2M.Server.Data;

namespace M2M.Cli;

/// <summary>`backup --full [--verify] [--out DIR]`: online backup of every store; safe while the connector runs.</summary>
internal static class BackupCommand
{
    public static Command Create()
    {
        var config = CommonOptions.Config();
        var full = new Option<bool>("--full") { Description = "Back up every store: ledger, settlements, EVM channel stores, wallet store (the only mode; required for clarity)" };
        var verify = new Option<bool>("--verify") { Description = "Then re-hash every file, restore into a temporary directory, run integrity_check and the ledger invariants" };
        var output = new Option<string?>("--out") { Description = "Directory to write (default: <data dir>/backups/backup-<UTC time>)" };
        var verifyOnly = new Option<string?>("--verify-only") { Description = "Verify an existing backup directory; write nothing" };
        var command = new Command("backup", "Consistent online backup of every store with a manifest (versions, sizes, sha256).") { config, full, verify, output, verifyOnly };
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(config), parse.GetValue(full), parse.GetValue(verify), parse.GetValue(output), parse.GetValue(verifyOnly), ct));
        return command;
    }

    private static async Task<int> RunAsync(string? configPath, bool full, bool verify, string? output, string? verifyOnly, CancellationToken ct)
    {
        try
        {
            if (verifyOnly is not null)
                return Report(await WorkProgressView.RunAsync((work, line) => BackupService.VerifyAsync(Path.GetFullPath(verifyOnly), line, ct, work: work)), verifyOnly);
            if (!full)
            {
                Console.Error.WriteLine("error: only full backups exist: pass --full");
                return 1;
            }
            if (LoadSettings(configPath) is not { } settings) return 1;
            string dir = Path.GetFullPath(output ?? Path.Combine(DataStores.BackupsDirectory(settings), $"backup-{DateTimeOffset.UtcNow:yyyyMMdd'T'HHmmss'Z'}"));
            var problems = await WorkProgressView.RunAsync(async (work, line) =>
            {
                await BackupService.CreateAsync(settings, dir, line, ct, work);
                return verify ? await BackupService.VerifyAsync(dir, line, ct, settings.Ledger.PostgresUrl, work) : null;
            });
            if (problems is not null) return Report(problems, dir);
            Console.WriteLine($"backup: done: {dir}");
            return 0;
        }
        catch (BackupException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException or Npgsql.NpgsqlException)
        {
            Console.Error.WriteLine($"error: backup failed: {e.Message}");
            return 1;
        }
    }

    private static int Report(IReadOnlyList<string> problems, string dir)
    {
        foreach (var p in problems) Console.Error.WriteLine($"verify: FAILED: {p}");
        Console.WriteLine(problems.Count == 0 ? $"backup verified: {Path.GetFullPath(dir)}" : $"backup verification FAILED: {problems.Count} problems in {Path.GetFullPath(dir)}");
        return problems.Count == 0 ? 0 : 1;
    }

    /// <summary>The configured settings for a one-shot command that does not sign (no EVM_PRIVATE_KEY needed), or null after printing the config errors.</summary>
    internal static ConnectorSettings? LoadSettings(string? configPath)
    {
        var loader = ConfigLoader.ForOneShot();
        try
        {
            return loader.Load(loader.ResolvePath(configPath));
        }
        catch (ConfigException e)
        {
            CommonOptions.ReportConfigErrors(e);
            return null;
        }
    }
}
