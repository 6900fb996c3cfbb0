using Microsoft.Extensions.Logging;

namespace M2M.Server.Data;

/// <summary>Log events of the data area (event ids 1600-1699).</summary>
internal static partial class DataLog
{
    [LoggerMessage(EventId = 1601, Level = LogLevel.Information, Message = "Data: {Message}")]
    public static partial void Migration(ILogger log, string message);
}
