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
        var envFile = CommonOptions.EnvFile();
        var standby = new Option<bool>("--standby")
        {
            Description = "Blue-green: serve inbound peers but do not log in to outgoing peers until POST /admin/promote (so two instances never fight over one upstream login)",
        };
        var command = new Command("run", "Run the connector until SIGTERM, Ctrl+C or POST /admin/drain (then drain and stop gracefully, exit 0).") { config, logFormat, envFile, standby };
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(config), parse.GetValue(logFormat), parse.GetValue(envFile), parse.GetValue(standby)));
        return command;
    }

    private static async Task<int> RunAsync(string? configPath, string? logFormat, string? envFileOption, bool standby)
    {
        var loader = ConfigLoader.FromProcess();
        ConnectorSettings settings;
        string? envFileNote = null;
        try
        {
            // The env file first, into the process environment (which wins over it), so every reader sees the same values.
            if (EnvFile.Resolve(envFileOption) is { } envPath)
            {
                var values = EnvFile.Read(envPath);
                envFileNote = EnvFile.Describe(envPath, values.Count, EnvFile.ApplyToProcess(values));
            }
            settings = loader.Load(loader.ResolvePath(configPath));
        }
        catch (ConfigException e)
        {
            return CommonOptions.ReportConfigErrors(e);
        }
        using var loggers = Logging.Create(settings.LogLevel, logFormat ?? settings.LogFormat);
        var log = loggers.CreateLogger("M2M.Cli");
        if (envFileNote is not null) log.LogInformation("{EnvFile}", envFileNote);
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
        host.Peers.Standby = standby;
        await WarmUpAsync(settings, log, stop.Token);
        try
        {
            await host.StartAsync(stop.Token);
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"error: cannot listen (BTP port {settings.BtpServerPort}, HTTP port {settings.HealthCheckPort}): {e.Message}");
            return 1;
        }
        if (SystemdNotify.Send($"READY=1\nMAINPID={Environment.ProcessId}\nSTATUS=serving: BTP port {settings.BtpServerPort}, HTTP port {settings.HealthCheckPort}") is { } notifyError)
            log.LogWarning("{NotifyError}", notifyError);
        // SIGTERM, Ctrl+C or a finished POST /admin/drain: then the graceful stop (which drains first).
        await Task.WhenAny(Task.Delay(Timeout.Infinite, stop.Token), host.StopRequested).ContinueWith(_ => { }, TaskScheduler.Default);
        SystemdNotify.Send("STOPPING=1\nSTATUS=draining");
        await host.StopAsync();
        return 0;
    }

    /// <summary>
    /// Before listening: the packet path JIT-compiled and tiered up on a throwaway loopback connector (its own
    /// temporary files), so the first peers do not pay for it. A failure only costs the warm-up, never the start.
    /// </summary>
    private static async Task WarmUpAsync(ConnectorSettings settings, ILogger log, CancellationToken ct)
    {
        if (settings.StartupWarmupPackets == 0) return;
        try
        {
            var report = await StartupWarmup.RunAsync(settings, settings.StartupWarmupPackets, StartupWarmup.DefaultTimeCap, ct);
            log.LogInformation("Startup warm-up: {Fulfilled} of {Sent} packets fulfilled on a throwaway loopback connector in {Milliseconds} ms{Capped} (STARTUP_WARMUP_PACKETS=0 turns it off)",
                report.Fulfilled, report.Sent, (long)report.Elapsed.TotalMilliseconds, report.HitTimeCap ? ", stopped at the time cap" : "");
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Stopping before we started: the caller's StartAsync sees the same token.
        }
        catch (Exception e)
        {
            log.LogWarning("Startup warm-up skipped: {Reason}", e.Message);
        }
    }
}
