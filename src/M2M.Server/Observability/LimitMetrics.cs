using M2M.Core.Switch;
using M2M.Server.Configuration;
using Prometheus;

namespace M2M.Server.Observability;

/// <summary>
/// Metrics of the per-peer limits and of BTP auth abuse, in the connector's registry:
/// <c>ilp_packets_rejected_by_limit_total{peer_id,limit}</c>, <c>btp_auth_refused_total{reason}</c>,
/// and each refusal also counts in <c>connector_errors_total{type,severity}</c>.
/// Labels are bounded: configured peer ids and fixed names.
/// </summary>
public sealed class LimitMetrics : ILimitObserver
{
    private readonly ConnectorMetrics _metrics;
    private readonly Counter _rejected;
    private readonly Counter _authRefused;

    public LimitMetrics(ConnectorMetrics metrics)
    {
        _metrics = metrics;
        var f = Prometheus.Metrics.WithCustomRegistry(metrics.Registry);
        _rejected = f.CreateCounter("ilp_packets_rejected_by_limit_total", "Prepares refused by a per-peer limit (packets_per_second: T05, in_flight: T03, in_flight_value: T04).",
            new CounterConfiguration { LabelNames = ["peer_id", "limit"] });
        _authRefused = f.CreateCounter("btp_auth_refused_total", "BTP auth attempts refused, by reason (failed: wrong credentials; source_blocked: too many failures from the source address).",
            new CounterConfiguration { LabelNames = ["reason"] });
    }

    public void Rejected(string peerId, string limit)
    {
        _rejected.WithLabels(peerId, limit).Inc();
        _metrics.Error(limit == PeerLimitsStep.RateLimit ? "rate_limited" : "peer_limit_exceeded", "warning");
    }

    /// <summary>One refused BTP auth attempt.</summary>
    public void AuthRefused(bool sourceBlocked)
    {
        _authRefused.WithLabels(sourceBlocked ? "source_blocked" : "failed").Inc();
        _metrics.Error(sourceBlocked ? "btp_auth_source_blocked" : "btp_auth_failed", "warning");
    }

    /// <summary>
    /// <c>btp_connections{state=unauthenticated|authenticated}</c> and
    /// <c>btp_connections_closed_total{reason=auth_timeout|evicted}</c> from the connection gate.
    /// </summary>
    public void TrackConnections(M2M.Btp.BtpConnectionGate gate)
    {
        var f = Prometheus.Metrics.WithCustomRegistry(_metrics.Registry);
        var open = f.CreateGauge("btp_connections", "BTP WebSocket connections by state (unauthenticated: waiting for auth, capped separately).",
            new GaugeConfiguration { LabelNames = ["state"] });
        var closed = f.CreateGauge("btp_connections_closed_total", "Unauthenticated BTP connections closed: auth_timeout, or evicted (oldest first) to stay under the cap.",
            new GaugeConfiguration { LabelNames = ["reason"] });
        _metrics.Registry.AddBeforeCollectCallback(() =>
        {
            open.WithLabels("unauthenticated").Set(gate.Unauthenticated);
            open.WithLabels("authenticated").Set(gate.Authenticated);
            closed.WithLabels("auth_timeout").Set(gate.TimedOut);
            closed.WithLabels("evicted").Set(gate.Evicted);
        });
    }

    /// <summary>The switch step enforcing every peer's configured <c>limits</c>.</summary>
    public static PeerLimitsStep CreateStep(SwitchOptions options, ConnectorSettings settings, TimeProvider time, LimitMetrics metrics)
    {
        var byPeer = settings.Peers.Where(p => p.Limits is not null).ToDictionary(p => p.Id, p => p.Limits!, StringComparer.Ordinal);
        return new PeerLimitsStep(options, id => byPeer.GetValueOrDefault(id), time, metrics);
    }
}
