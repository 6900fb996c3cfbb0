using System.CommandLine;
using M2M.Server.Configuration;

namespace M2M.Cli;

internal static class CommonOptions
{
    public static Option<string?> Config() => new("--config", "-c")
    {
        Description = "YAML config file (default: $CONFIG_FILE, else ./config.yaml, else the built-in single-node default)",
    };

    public static Option<string?> EnvFile() => new("--env-file")
    {
        Description = "A .env file of NAME=value lines (default: ./.env when present); variables already set in the environment win, as with the 1.x dotenv",
    };

    public static Option<string?> LogFormat() => new("--log-format")
    {
        Description = "Log format: text (default) or json (one JSON object per line; also LOG_FORMAT)",
    };

    /// <summary>One line per problem on stderr, exit code 1: never a stack trace for bad config.</summary>
    public static int ReportConfigErrors(ConfigException e)
    {
        foreach (var error in e.Errors) Console.Error.WriteLine($"config error: {error}");
        return 1;
    }
}
