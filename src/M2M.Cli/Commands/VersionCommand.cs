using System.CommandLine;
using M2M.Server;

namespace M2M.Cli;

internal static class VersionCommand
{
    public static Command Create()
    {
        var command = new Command("version", "Print the connector version.");
        command.SetAction(_ =>
        {
            Console.WriteLine($"m2m-connector {ConnectorHost.Version}");
            return 0;
        });
        return command;
    }
}
