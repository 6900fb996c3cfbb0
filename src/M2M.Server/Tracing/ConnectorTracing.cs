using System.Diagnostics;
using M2M.Core.Ilp;
using M2M.Core.Switch;
using M2M.Server.Configuration;
using M2M.Settlement.Coordination;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace M2M.Server.Tracing;

/// <summary>
/// OpenTelemetry traces (OTEL_ENABLED=true): one span per Prepare and one per finished settlement,
/// exported over OTLP/HTTP protobuf. Spans are recorded from the outcome the switch and the
/// coordinator already report (start time and duration included), so the packet path itself has
/// no tracing code; with tracing off the only cost is <see cref="ActivitySource.HasListeners"/>.
/// Attributes carry peer ids, amounts and codes, never conditions, fulfillments, data or tokens.
/// </summary>
public sealed class ConnectorTracing : IPacketObserver, ISettlementObserver, IDisposable
{
    public const string SourceName = "M2M.Connector";

    private static readonly ActivitySource Source = new(SourceName, ConnectorHost.Version);

    private readonly IPacketObserver _packets;
    private readonly ISettlementObserver _settlements;
    private readonly TracerProvider? _provider;

    /// <summary>Forwards every observation to <paramref name="packets"/> / <paramref name="settlements"/> (the metrics) and traces it when enabled.</summary>
    public ConnectorTracing(TracingSettings settings, string nodeId, IPacketObserver packets, ISettlementObserver settlements)
    {
        _packets = packets;
        _settlements = settlements;
        if (settings.Enabled) _provider = CreateProvider(settings, nodeId);
    }

    public bool Enabled => _provider is not null;

    /// <summary>Where spans are posted: the OTLP base URL + v1/traces (what the SDK does for OTEL_EXPORTER_OTLP_ENDPOINT).</summary>
    public static Uri TracesUrl(Uri endpoint) =>
        new(endpoint.AbsoluteUri.EndsWith('/') ? endpoint : new Uri(endpoint.AbsoluteUri + "/"), "v1/traces");

    private static TracerProvider CreateProvider(TracingSettings settings, string nodeId) =>
        Sdk.CreateTracerProviderBuilder()
            .AddSource(SourceName)
            .ConfigureResource(r => r.AddService(settings.ServiceName, serviceVersion: ConnectorHost.Version, serviceInstanceId: nodeId))
            .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(settings.SamplingRatio)))
            .AddOtlpExporter(o =>
            {
                o.Protocol = OtlpExportProtocol.HttpProtobuf;
                o.Endpoint = TracesUrl(settings.Endpoint);
                // Spans reach the collector within about a second; the batch bounds memory if it is down.
                o.BatchExportProcessorOptions.ScheduledDelayMilliseconds = 1000;
                o.BatchExportProcessorOptions.MaxQueueSize = 8192;
            })
            .Build();

    public void PacketCompleted(PacketContext context, IlpReply reply, TimeSpan elapsed)
    {
        _packets.PacketCompleted(context, reply, elapsed);
        if (Source.HasListeners()) TracePacket(context, reply, elapsed);
    }

    public void Executed(SettlementRecord settlement, bool success, TimeSpan latency)
    {
        _settlements.Executed(settlement, success, latency);
        if (Source.HasListeners()) TraceSettlement(settlement, success, latency);
    }

    /// <summary>
    /// Starts a root span: the ambient activity is the BTP WebSocket request (hours long, and not
    /// sampled), which would otherwise be the parent and make the parent-based sampler drop it.
    /// The caller disposes the span and then restores <paramref name="ambient"/>.
    /// </summary>
    private static Activity? StartRoot(string name, ActivityKind kind, DateTimeOffset start, out Activity? ambient)
    {
        ambient = Activity.Current;
        Activity.Current = null;
        return Source.StartActivity(name, kind, default(ActivityContext), startTime: start);
    }

    private static void TracePacket(PacketContext context, IlpReply reply, TimeSpan elapsed)
    {
        var span = StartRoot("ilp.prepare", ActivityKind.Server, context.ReceivedAt, out var ambient);
        try
        {
            if (span is not null) DescribePacket(span, context, reply, elapsed);
        }
        finally
        {
            span?.Dispose();
            Activity.Current = ambient;
        }
    }

    private static void DescribePacket(Activity span, PacketContext context, IlpReply reply, TimeSpan elapsed)
    {
        span.SetTag("ilp.source_peer", context.Source.Id);
        if (context.NextHop is not null) span.SetTag("ilp.next_hop", context.NextHop);
        span.SetTag("ilp.amount", AsAttribute(context.Prepare.Amount));
        span.SetTag("ilp.asset", $"{context.Source.AssetCode}/{context.Source.AssetScale}");
        if (reply is IlpReject reject)
        {
            span.SetTag("ilp.result", "rejected");
            span.SetTag("ilp.error_code", reject.Code);
            span.SetStatus(ActivityStatusCode.Error, reject.Code);
        }
        else
        {
            span.SetTag("ilp.result", "fulfilled");
        }
        span.SetEndTime(context.ReceivedAt.UtcDateTime + elapsed);
    }

    private static void TraceSettlement(SettlementRecord settlement, bool success, TimeSpan latency)
    {
        var end = DateTimeOffset.UtcNow;
        var span = StartRoot("settlement.execute", ActivityKind.Client, end - latency, out var ambient);
        try
        {
            if (span is not null) DescribeSettlement(span, settlement, success, end);
        }
        finally
        {
            span?.Dispose();
            Activity.Current = ambient;
        }
    }

    private static void DescribeSettlement(Activity span, SettlementRecord settlement, bool success, DateTimeOffset end)
    {
        span.SetTag("settlement.id", settlement.Id.ToString());
        span.SetTag("settlement.peer", settlement.PeerId);
        span.SetTag("settlement.method", settlement.Method);
        span.SetTag("settlement.amount", AsAttribute(settlement.Amount));
        span.SetTag("settlement.token", settlement.Token);
        span.SetTag("settlement.attempts", settlement.Attempts);
        span.SetTag("settlement.result", success ? "confirmed" : "failed");
        if (!success) span.SetStatus(ActivityStatusCode.Error, settlement.LastError ?? "failed");
        span.SetEndTime(end.UtcDateTime);
    }

    /// <summary>OTLP integers are signed 64-bit: larger amounts go as decimal strings, never rounded.</summary>
    private static object AsAttribute(ulong amount) => amount <= long.MaxValue ? (long)amount : amount.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Flushes the spans still queued to the collector (bounded by the exporter's timeout).</summary>
    public void Dispose() => _provider?.Dispose();
}
