using System.CommandLine;
using M2M.Server.Configuration;

namespace M2M.Cli;

internal static class ConfigCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "YAML config file to check" };
        var validate = new Command("validate", "Check a config file (with the current environment applied) without starting anything.") { file };
        validate.SetAction(parse => Validate(parse.GetValue(file)!));
        return new Command("config", "Configuration tools.") { validate };
    }

    private static int Validate(string path)
    {
        var loader = ConfigLoader.FromProcess();
        try
        {
            var s = loader.Load(path);
            foreach (var warning in loader.Warnings) Console.Error.WriteLine($"warning: {warning}");
            Console.WriteLine($"{path}: valid. nodeId {s.NodeId}, address {s.IlpAddress}, BTP port {s.BtpServerPort}, HTTP port {s.HealthCheckPort}, {s.Peers.Count} peers, {s.Routes.Count} routes");
            return 0;
        }
        catch (ConfigException e)
        {
            return CommonOptions.ReportConfigErrors(e);
        }
    }
}
