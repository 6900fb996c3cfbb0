using System.CommandLine;
using M2M.Server.Data;

namespace M2M.Cli;

/// <summary>`restore --from DIR [--dry-run] [--force]`: verify a backup, then put every store back (connector stopped).</summary>
internal static class RestoreCommand
{
    public static Command Create()
    {
        var config = CommonOptions.Config();
        var from = new Option<string>("--from") { Description = "Backup directory (with manifest.json)", Required = true };
        var dryRun = new Option<bool>("--dry-run") { Description = "Verify the backup and print what would be restored; write nothing" };
        var force = new Option<bool>("--force") { Description = "Replace existing store files" };
        var command = new Command("restore", "Restore every store from a verified backup. Refuses while the connector runs.") { config, from, dryRun, force };
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(config), parse.GetValue(from)!, parse.GetValue(dryRun), parse.GetValue(force), ct));
        return command;
    }

    private static async Task<int> RunAsync(string? configPath, string from, bool dryRun, bool force, CancellationToken ct)
    {
        if (BackupCommand.LoadSettings(configPath) is not { } settings) return 1;
        try
        {
            return await WorkProgressView.RunAsync((work, line) => RestoreService.RestoreAsync(settings, from, dryRun, force, line, ct, work));
        }
        catch (BackupException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException)
        {
            Console.Error.WriteLine($"error: restore failed: {e.Message}");
            return 1;
        }
    }
}
