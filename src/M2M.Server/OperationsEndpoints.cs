using M2M.Server.Accounting;
using M2M.Server.Configuration;
using M2M.Server.Observability;
using M2M.Server.Peers;
using M2M.Settlement.Coordination;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace M2M.Server;

/// <summary>/health, /health/live, /health/ready and /metrics on the HEALTH_CHECK_PORT.</summary>
internal static class OperationsEndpoints
{
    public static void MapOperationsEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/health", async (ConnectorHost host, ConnectorSettings settings, ConnectorLedger accounting, PeerManager peers, ConnectorMetrics metrics, SettlementCoordinator settlement) =>
        {
            var report = HealthReport.Create(host.State, host.Uptime, settings, host.Routing, peers, metrics, settlement, accounting.Ledger.Backend,
                await accounting.ProbeAsync().ConfigureAwait(false));
            if (await EvmProbe.ProbeAsync(settings).ConfigureAwait(false) is { } evm) ((Dictionary<string, DependencyHealth>)report.Dependencies)["evm"] = evm;
            return Results.Json(report, statusCode: report.IsServing ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        });
        app.MapGet("/health/live", () => Results.Json(new { status = "alive", timestamp = DateTimeOffset.UtcNow }));
        app.MapGet("/health/ready", async (ConnectorHost host, ConnectorLedger accounting) =>
        {
            var (ledgerUp, _) = await accounting.ProbeAsync().ConfigureAwait(false);
            string? reason = host.State switch
            {
                ConnectorState.Running when !ledgerUp => "ledger unavailable",
                ConnectorState.Running => null,
                ConnectorState.Starting => "starting",
                ConnectorState.Draining => "draining",
                _ => "stopped",
            };
            return reason is null
                ? Results.Json(new { status = "ready", timestamp = DateTimeOffset.UtcNow })
                : Results.Json(new { status = "not_ready", reason, timestamp = DateTimeOffset.UtcNow }, statusCode: StatusCodes.Status503ServiceUnavailable);
        });
        app.MapGet("/metrics", async (HttpContext context, ConnectorMetrics metrics) =>
        {
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            if (MetricsText.SamplesOnly(context.Request.Headers.Accept))
                await MetricsText.WriteSamplesAsync(metrics.WriteAsync, context.Response.Body, context.RequestAborted).ConfigureAwait(false);
            else
                await metrics.WriteAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        });
    }
}

/// <summary>The /health document (field names are the operator contract; see CONTRACT.md).</summary>
internal sealed record HealthReport(
    string Status,
    long Uptime,
    int PeersConnected,
    int TotalPeers,
    IReadOnlyList<PeerHealth> Peers,
    DateTimeOffset Timestamp,
    string NodeId,
    string Version,
    string IlpAddress,
    string AddressSource,
    string? AddressWarning,
    IReadOnlyDictionary<string, DependencyHealth> Dependencies,
    SlaReport Sla)
{
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsServing => Status is "healthy" or "degraded";

    /// <summary>
    /// starting before the listeners are up; unhealthy while draining, stopped or the ledger is down; degraded when a
    /// configured peer is not connected; healthy otherwise. Recomputed on every call.
    /// </summary>
    public static HealthReport Create(ConnectorState state, TimeSpan uptime, ConnectorSettings settings, M2M.Server.Routing.RoutingService routing, PeerManager peerManager,
        ConnectorMetrics metrics, SettlementCoordinator settlement, string backend, (bool Up, TimeSpan Latency) ledger)
    {
        var peers = peerManager.Configured
            .Select(p => new PeerHealth(p.Id, peerManager.IsConnected(p.Id), p.Relation.ToString().ToLowerInvariant()))
            .ToList();
        int connected = peers.Count(p => p.Connected);
        string status = state switch
        {
            ConnectorState.Starting => "starting",
            ConnectorState.Running when !ledger.Up => "unhealthy",
            ConnectorState.Running => connected == peers.Count ? "healthy" : "degraded",
            _ => "unhealthy",
        };
        var sla = new SlaReport(Math.Round(metrics.PacketSuccessRate, 6), Math.Round(settlement.SuccessRate, 6), Math.Round(metrics.P99LatencyMs, 3));
        return new HealthReport(status, (long)uptime.TotalSeconds, connected, peers.Count, peers, DateTimeOffset.UtcNow,
            settings.NodeId, ConnectorHost.Version, routing.IlpAddress, routing.AddressSource.ToString().ToLowerInvariant(), routing.AddressWarning,
            new Dictionary<string, DependencyHealth>
            {
                ["ledger"] = new(ledger.Up ? "up" : "down", Math.Round(ledger.Latency.TotalMilliseconds, 3), backend),
            }, sla);
    }
}

/// <summary>The EVM JSON-RPC endpoints the settlement config names: eth_chainId answered within 2 s means up.</summary>
internal static class EvmProbe
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(2) };

    public static async Task<DependencyHealth?> ProbeAsync(M2M.Server.Configuration.ConnectorSettings settings)
    {
        var urls = settings.Peers.Select(p => p.Settlement?.Evm?.RpcUrl).OfType<Uri>().Distinct().ToList();
        if (urls.Count == 0) return null;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        bool up = true;
        foreach (var url in urls)
        {
            try
            {
                using var response = await Http.PostAsync(url, new StringContent("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\",\"params\":[]}", System.Text.Encoding.UTF8, "application/json")).ConfigureAwait(false);
                up &= response.IsSuccessStatusCode;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                up = false;
            }
        }
        return new DependencyHealth(up ? "up" : "down", Math.Round(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds, 3));
    }
}

internal sealed record PeerHealth(string Id, bool Connected, string Relation);

internal sealed record DependencyHealth(string Status, double LatencyMs, string? Backend = null);

/// <summary>Rates are 1 until something was attempted; settlementSuccessRate counts confirmed / finished settlements.</summary>
internal sealed record SlaReport(double PacketSuccessRate, double SettlementSuccessRate, double P99LatencyMs);
