using M2M.Core.Switch;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace M2M.Server.Observability;

/// <summary>
/// Fulfills paid to the next hop that could not go back upstream (the two-leg rule of RELIABILITY.md):
/// counted in connector_unrecoverable_fulfills_total and, in units, connector_unrecoverable_fulfills_amount_total
/// (per asset), also as connector_errors_total{type="unrecoverable_fulfill"}, and logged one line each.
/// </summary>
public sealed partial class UnrecoverableFulfills : IUnrecoverableFulfillObserver
{
    private readonly ConnectorMetrics _metrics;
    private readonly ILogger _log;
    private readonly Counter _count;
    private readonly Counter _amount;

    public UnrecoverableFulfills(ConnectorMetrics metrics, ILogger log)
    {
        _metrics = metrics;
        _log = log;
        var factory = Prometheus.Metrics.WithCustomRegistry(metrics.Registry);
        _count = factory.CreateCounter("connector_unrecoverable_fulfills_total",
            "Fulfills paid to the next hop that could not be delivered to the sender (booked to the connector-loss account).",
            new CounterConfiguration { LabelNames = ["asset"] });
        _amount = factory.CreateCounter("connector_unrecoverable_fulfills_amount_total",
            "Units of those Fulfills (the connector's loss), in the asset's scale.",
            new CounterConfiguration { LabelNames = ["asset"] });
    }

    public void UnrecoverableFulfill(string sourcePeer, string nextHop, ulong amount, string assetCode, byte assetScale, string reason)
    {
        string asset = $"{assetCode}/{assetScale}";
        _count.WithLabels(asset).Inc();
        _amount.WithLabels(asset).Inc(amount);
        _metrics.Error("unrecoverable_fulfill", "error");
        LogUnrecoverable(sourcePeer, nextHop, amount, asset, reason);
    }

    [LoggerMessage(EventId = 4010, Level = LogLevel.Error,
        Message = "Unrecoverable Fulfill: {Amount} {Asset} paid to {NextHop} for a packet from {SourcePeer}, but {Reason}; booked to the connector-loss account")]
    private partial void LogUnrecoverable(string sourcePeer, string nextHop, ulong amount, string asset, string reason);
}
