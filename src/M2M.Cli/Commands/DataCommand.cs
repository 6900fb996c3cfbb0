using System.CommandLine;
using M2M.Server.Data;

namespace M2M.Cli;

/// <summary>
/// `data check`: can this release open the configured data as it is? Read-only (safe while another
/// release runs on the data). Exit 0: yes (it may migrate it forward on start); 3: no, the data
/// needs a newer release (a contract schema), the reason printed; 1: bad configuration.
/// scripts/rollback.sh asks the release it rolls back to, and restores a backup only on 3.
/// </summary>
internal static class DataCommand
{
    public const int Incompatible = 3;

    public static Command Create()
    {
        var config = CommonOptions.Config();
        var check = new Command("check", "Say whether this release can open the configured data (exit 0) or needs a newer one (exit 3). Writes nothing.") { config };
        check.SetAction((parse, ct) => CheckAsync(parse.GetValue(config)));
        return new Command("data", "Data store tools.") { check };
    }

    private static async Task<int> CheckAsync(string? configPath)
    {
        if (BackupCommand.LoadSettings(configPath) is not { } settings) return 1;
        if (await StartupGate.IncompatibilityAsync(settings) is { } reason)
        {
            Console.WriteLine($"data check: this release ({M2M.Server.ConnectorHost.Version}) cannot open the data: {reason}");
            return Incompatible;
        }
        Console.WriteLine($"data check: this release ({M2M.Server.ConnectorHost.Version}) can open the data");
        return 0;
    }
}
