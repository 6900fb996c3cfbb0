using M2M.Server.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace M2M.Cli;

internal static class Logging
{
    /// <summary>Console logging at the configured level, as single-line text or JSON lines.</summary>
    public static ILoggerFactory Create(ConnectorLogLevel level, string? format)
    {
        var min = level switch
        {
            ConnectorLogLevel.Debug => LogLevel.Debug,
            ConnectorLogLevel.Warn => LogLevel.Warning,
            ConnectorLogLevel.Error => LogLevel.Error,
            _ => LogLevel.Information,
        };
        bool json = string.Equals(format, "json", StringComparison.OrdinalIgnoreCase);
        if (format is not null && !json && !string.Equals(format, "text", StringComparison.OrdinalIgnoreCase))
            Console.Error.WriteLine($"warning: log format '{format}' is not text or json; using text");
        return LoggerFactory.Create(b =>
        {
            b.SetMinimumLevel(min);
            b.AddFilter("Microsoft", LogLevel.Warning);
            // A failed bind is reported by us in one line; the host's own stack trace is noise.
            b.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
            if (json)
            {
                b.AddJsonConsole(o =>
                {
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                    o.UseUtcTimestamp = true;
                });
            }
            else
            {
                b.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                    o.UseUtcTimestamp = true;
                    o.ColorBehavior = LoggerColorBehavior.Disabled;
                });
            }
        });
    }
}
