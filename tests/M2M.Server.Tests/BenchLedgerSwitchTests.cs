using M2M.Core.Diagnostics;
using M2M.Core.Ledger;
using M2M.Server.Configuration;
using Microsoft.Extensions.Logging;

namespace M2M.Server.Tests;

/// <summary>The SQLite writer's bench switches (M2M_BENCH_LEDGER_*) never reach a production node unnoticed.</summary>
[Trait("Tier", "unit")]
public sealed class BenchLedgerSwitchTests
{
    private static readonly TestSeams Hold = TestSeams.None with { BenchLedgerHoldMs = 0, BenchLedgerPragmas = "wal_autocheckpoint=1" };

    [Fact]
    public void Refused_in_production_naming_each_switch()
    {
        var settings = TestConnector.TwoPeers() with { Environment = DeploymentEnvironment.Production };
        var e = Assert.Throws<LedgerUnavailableException>(() =>
            ConnectorHost.RefuseOrWarnBenchLedgerSwitches(settings, NullLoggerFor.Instance, Hold));
        Assert.Contains(TestSeams.BenchLedgerHoldMsVariable, e.Message, StringComparison.Ordinal);
        Assert.Contains(TestSeams.BenchLedgerPragmasVariable, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Warned_once_elsewhere_and_silent_when_unset()
    {
        var logs = new ListLogger();
        ConnectorHost.RefuseOrWarnBenchLedgerSwitches(TestConnector.TwoPeers(), logs, Hold);
        Assert.Single(logs.Warnings);
        Assert.Contains("BENCHMARK ONLY", logs.Warnings[0], StringComparison.Ordinal);
        ConnectorHost.RefuseOrWarnBenchLedgerSwitches(TestConnector.TwoPeers() with { Environment = DeploymentEnvironment.Production }, logs, TestSeams.None);
        Assert.Single(logs.Warnings);
    }

    private static class NullLoggerFor
    {
        public static readonly ILogger Instance = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    }

    private sealed class ListLogger : ILogger
    {
        public List<string> Warnings { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel == LogLevel.Warning) Warnings.Add(formatter(state, exception));
        }
    }
}
