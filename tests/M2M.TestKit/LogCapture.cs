using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace M2M.TestKit;

/// <summary>An in-memory logger provider: the lines a host wrote, with event ids, for tests that assert on the log.</summary>
public sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<(int EventId, LogLevel Level, string Message)> _lines = new();

    public IReadOnlyList<(int EventId, LogLevel Level, string Message)> Lines => _lines.ToArray();

    public IEnumerable<string> Messages(int eventId) => _lines.Where(l => l.EventId == eventId).Select(l => l.Message);

    /// <summary>A factory that writes only here.</summary>
    public ILoggerFactory Factory() => LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(this));

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    private sealed class Logger(LogCapture owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._lines.Enqueue((eventId.Id, logLevel, formatter(state, exception)));
    }
}
