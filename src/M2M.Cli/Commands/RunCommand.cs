using System.CommandLine;
using System.Runtime.InteropServices;
using M2M.Server;
using M2M.Server.Configuration;
using Microsoft.Extensions.Logging;

namespace M2M.Cli;

internal static class RunCommand
{
    public static Command Create()
    {
        var config = CommonOptions.Config();
        var logFormat = CommonOptions.LogFormat();
        var command = new Command("run", "Run the connector until SIGTERM, Ctrl+C or POST /admin/drain (then drain and stop gracefully, exit 0).") { config, logFormat };
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(config), parse.GetValue(logFormat)));
        return command;
    }

    private static async Task<int> RunAsync(string? configPath, string? logFormat)
    {
        var loader = ConfigLoader.FromProcess();
        ConnectorSettings settings;
        try
        {
            settings = loader.Load(loader.ResolvePath(configPath));
        }
        catch (ConfigException e)
        {
            return CommonOptions.ReportConfigErrors(e);
        }
        using var loggers = Logging.Create(settings.LogLevel, logFormat ?? settings.LogFormat);
        var log = loggers.CreateLogger("M2M.Cli");
        foreach (var warning in loader.Warnings) log.LogWarning("{Warning}", warning);

        using var stop = new CancellationTokenSource();
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });

        ConnectorHost? created = null;
        try
        {
            created = await ConnectorHost.CreateAsync(settings, loggers);
        }
        catch (M2M.Core.Ledger.LedgerUnavailableException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        await using var host = created;
        try
        {
            await host.StartAsync(stop.Token);
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"error: cannot listen (BTP port {settings.BtpServerPort}, HTTP port {settings.HealthCheckPort}): {e.Message}");
            return 1;
        }
        // SIGTERM, Ctrl+C or a finished POST /admin/drain: then the graceful stop (which drains first).
        await Task.WhenAny(Task.Delay(Timeout.Infinite, stop.Token), host.StopRequested).ContinueWith(_ => { }, TaskScheduler.Default);
        await host.StopAsync();
        return 0;
    }
}
