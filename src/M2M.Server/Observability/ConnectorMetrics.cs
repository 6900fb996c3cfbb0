using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Core.Switch;
using M2M.Ledger.Sqlite;
using M2M.Server.Accounting;
using M2M.Server.Configuration;
using Prometheus;

namespace M2M.Server.Observability;

/// <summary>
/// Every Prometheus metric of one connector, in its own registry (so two connectors in one test
/// process do not share counters). Labels are bounded: packet type and status, error type and
/// severity, configured peer ids; never an ILP address.
/// </summary>
public sealed class ConnectorMetrics : IPacketObserver, ILedgerObserver, M2M.Settlement.Coordination.ISettlementObserver, M2M.Settlement.Evm.IPaymentChannelObserver
{
    public CollectorRegistry Registry { get; } = Metrics.NewCustomRegistry();

    private readonly Counter _processed;
    private readonly Histogram _latency;
    private readonly Gauge _inFlight;
    private readonly Counter _errors;
    private readonly Gauge _lastError;
    private readonly LatencyWindow _window = new(4096);
    private readonly Histogram _ledgerLatency;
    // Labelled children used on every packet, looked up once (WithLabels allocates and hashes per call).
    private readonly Counter.Child _processedFulfilled;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Counter.Child> _processedRejected = new(StringComparer.Ordinal);
    private readonly Histogram.Child _prepareLatency;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Operation, bool Ok), Histogram.Child> _ledgerLatencyChildren = new();
    private readonly Histogram _ledgerBatch;
    private readonly Counter _fulfillPostFailed;
    private readonly Gauge _balance;
    private readonly Gauge _settlementsPending;
    private readonly Counter _settlementsExecuted;
    private readonly Histogram _settlementLatency;
    private readonly Counter _settlementAmount;
    private readonly Counter _channelsFunded;
    private readonly Counter _channelDisputes;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string, string), byte> _disputedChannels = new();
    private readonly Counter _packetErrors;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Counter.Child> _packetErrorChildren = new(StringComparer.Ordinal);

    public void Executed(M2M.Settlement.Coordination.SettlementRecord settlement, bool success, TimeSpan latency)
    {
        _settlementsExecuted.WithLabels(settlement.Method, success ? "success" : "failed").Inc();
        _settlementLatency.WithLabels(settlement.Method).Observe(latency.TotalSeconds);
        if (success) _settlementAmount.WithLabels(settlement.Method, settlement.Token).Inc(settlement.Amount);
        else Error("settlement_failed", "error");
    }

    public void ChannelFunded(string method, string asset) => _channelsFunded.WithLabels(method, asset).Inc();

    public void ChannelDisputed(string method, string channelId)
    {
        if (_disputedChannels.TryAdd((method, channelId), 0)) _channelDisputes.WithLabels(method).Inc();
    }

    /// <summary>settlements_pending and payment_channels_active are read from the durable stores at each scrape.</summary>
    public void TrackSettlement(M2M.Settlement.Coordination.SettlementCoordinator coordinator, Func<(int Outgoing, int Incoming)>? evmChannels)
    {
        var channels = Metrics.WithCustomRegistry(Registry).CreateGauge("payment_channels_active", "Payment channels in use, by method and direction (outgoing: we pay; incoming: we are paid).",
            new GaugeConfiguration { LabelNames = ["method", "status"] });
        Registry.AddBeforeCollectCallback(() =>
        {
            _settlementsPending.Set(coordinator.OpenCount);
            if (evmChannels is null) return;
            var (outgoing, incoming) = evmChannels();
            channels.WithLabels("evm", "outgoing").Set(outgoing);
            channels.WithLabels("evm", "incoming").Set(incoming);
        });
    }
    private long _fulfilled;
    private long _rejected;

    public ConnectorMetrics()
    {
        var f = Metrics.WithCustomRegistry(Registry);
        // code: the Reject's ILP error code ("" for a Fulfill), so alerts can leave out STREAM's normal back-off (T04, F99).
        _processed = f.CreateCounter("ilp_packets_processed_total", "ILP Prepares handled, by reply type, status and reject code (empty for a fulfill).",
            new CounterConfiguration { LabelNames = ["type", "status", "code"] });
        _latency = f.CreateHistogram("ilp_packet_latency_seconds", "Time from receiving a Prepare to sending its reply.",
            new HistogramConfiguration
            {
                LabelNames = ["type"],
                // 50 µs … ~26 s: the SLO (p99 < 10 ms) sits well inside the fine buckets.
                Buckets = Histogram.ExponentialBuckets(0.00005, 2, 20),
            });
        _inFlight = f.CreateGauge("ilp_packets_in_flight", "Prepares received and not yet answered.");
        _errors = f.CreateCounter("connector_errors_total", "Errors by type and severity.",
            new CounterConfiguration { LabelNames = ["type", "severity"] });
        _lastError = f.CreateGauge("connector_last_error_timestamp", "Unix time of the last error counted in connector_errors_total.");
        _settlementsPending = f.CreateGauge("settlements_pending", "Settlements created and not yet confirmed or failed.");
        _settlementsExecuted = f.CreateCounter("settlements_executed_total", "Settlements finished, by method and status (success, failed).",
            new CounterConfiguration { LabelNames = ["method", "status"] });
        _settlementLatency = f.CreateHistogram("settlement_latency_seconds", "Time of the successful or final attempt of a settlement.",
            new HistogramConfiguration { LabelNames = ["method"], Buckets = Histogram.ExponentialBuckets(0.001, 2, 20) });
        _settlementAmount = f.CreateCounter("settlement_amount_total", "Units settled, by method and token (asset code/scale).",
            new CounterConfiguration { LabelNames = ["method", "token"] });
        _channelsFunded = f.CreateCounter("payment_channels_funded_total", "Payment channels this node funded (opened with a deposit), by method and asset (ETH or the ERC-20 token's address).",
            new CounterConfiguration { LabelNames = ["method", "asset"] });
        _channelDisputes = f.CreateCounter("payment_channels_disputes_total", "Payment channels found in their dispute (closing) period, once per channel, by method.",
            new CounterConfiguration { LabelNames = ["method"] });
        // Present from the first scrape (0), as the guide greps for them.
        _channelsFunded.WithLabels("evm", "ETH");
        _channelDisputes.WithLabels("evm");
        _ledgerLatency = f.CreateHistogram("ledger_operation_latency_seconds", "Ledger calls made while handling packets, by operation (reserve, post, void).",
            new HistogramConfiguration { LabelNames = ["operation", "result"], Buckets = Histogram.ExponentialBuckets(0.00005, 2, 18) });
        _ledgerBatch = f.CreateHistogram("ledger_batch_size", "Work items committed together in one ledger transaction (group commit).",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(1, 2, 10) });
        _fulfillPostFailed = f.CreateCounter("ledger_fulfill_post_failed_total", "Fulfills answered T00 because their post did not commit. Should be 0: alert if not.");
        _balance = f.CreateGauge("account_balance_units", "Posted balance of each peer account (credits − debits, in the asset's units; positive: we owe the peer).",
            new GaugeConfiguration { LabelNames = ["peer_id", "token_id", "asset_code", "asset_scale"] });
        // The upgrade guide watches `grep error_total` during and after an upgrade: this is the error rate it means.
        _packetErrors = f.CreateCounter("ilp_packet_error_total", "Prepares answered with an ILP Reject, by error code (T01 next hop unreachable, T00 ledger, T03 draining, T04 over a limit, F02 no route, R00 expired, ...).",
            new CounterConfiguration { LabelNames = ["code"] });
        DotNetStats.Register(Registry);
        // Publish the zero series up front so dashboards and the guide's greps find them before traffic.
        _processedFulfilled = _processed.WithLabels("prepare", "fulfilled", "");
        _prepareLatency = _latency.WithLabels("prepare");
    }

    public void PacketCompleted(PacketContext context, IlpReply reply, TimeSpan elapsed)
    {
        bool fulfilled = reply is IlpFulfill;
        if (reply is IlpReject reject) PacketRejected(reject.Code);
        else _processedFulfilled.Inc();
        _prepareLatency.Observe(elapsed.TotalSeconds);
        _window.Add(elapsed);
        Interlocked.Increment(ref fulfilled ? ref _fulfilled : ref _rejected);
    }

    /// <summary>
    /// Counts a Reject in both metrics under the same code label; a code that is not F/T/R plus two
    /// digits (from a peer) is counted as "other", so the labels stay bounded (at most 301 values).
    /// </summary>
    private void PacketRejected(string code)
    {
        string label = CodeLabel(code);
        _processedRejected.GetOrAdd(label, static (c, counter) => counter.WithLabels("prepare", "rejected", c), _processed).Inc();
        _packetErrorChildren.GetOrAdd(label, static (c, counter) => counter.WithLabels(c), _packetErrors).Inc();
    }

    internal static string CodeLabel(string code) => IlpErrorCode.IsWellFormed(code) ? code : "other";

    /// <summary>ilp_packets_in_flight is read from the switch at each scrape (not set twice per packet).</summary>
    public void TrackInFlight(Func<long> inFlight) => Registry.AddBeforeCollectCallback(() => _inFlight.Set(inFlight()));

    public void Operation(string operation, TimeSpan elapsed, bool ok) =>
        _ledgerLatencyChildren.GetOrAdd((operation, ok), static (key, h) => h.WithLabels(key.Operation, key.Ok ? "ok" : "failed"), _ledgerLatency)
            .Observe(elapsed.TotalSeconds);

    public void FulfillPostFailed()
    {
        _fulfillPostFailed.Inc();
        Error("fulfill_post_failed", "critical");
    }

    /// <summary>Batch sizes from the backend, and peer balances read fresh from the ledger at each scrape.</summary>
    public void TrackLedger(ConnectorLedger ledger, ConnectorSettings settings)
    {
        if (ledger.Ledger is SqliteLedger sqlite) sqlite.BatchCommitted += (items, _) => _ledgerBatch.Observe(items);
        if (ledger.Ledger is M2M.Ledger.Postgres.PostgresLedger postgres) postgres.BatchCommitted += items => _ledgerBatch.Observe(items);
        // token_id (code/scale) stays for dashboards written against it; asset_code and asset_scale say which units the value is in.
        var peers = settings.Peers.Select(p => (Labels: new[] { p.Id, $"{p.AssetCode}/{p.AssetScale}", p.AssetCode, p.AssetScale.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            AccountId: PeerAccounts.PeerAccountId(p.Id, PeerAccounts.LedgerFor(p.AssetCode, p.AssetScale)))).ToList();
        Registry.AddBeforeCollectCallback(async ct =>
        {
            foreach (var (labels, accountId) in peers)
            {
                try
                {
                    var account = await ledger.Ledger.LookupAccountAsync(accountId, ct).ConfigureAwait(false);
                    if (account is not null) _balance.WithLabels(labels).Set((double)account.PostedBalance);
                }
                catch (LedgerUnavailableException)
                {
                    // The scrape still answers; /health reports the ledger as down.
                }
            }
        });
    }

    /// <summary>A Prepare we could not even decode: counted as rejected and as an error.</summary>
    public void InvalidPacket()
    {
        // Answered F01 by PacketSwitch.InvalidPacket, which does not pass through PacketCompleted.
        PacketRejected(IlpErrorCode.F01_InvalidPacket);
        Interlocked.Increment(ref _rejected);
        Error("invalid_packet", "warning");
    }

    public void Error(string type, string severity)
    {
        _errors.WithLabels(type, severity).Inc();
        _lastError.SetToCurrentTimeUtc();
    }

    /// <summary>Fulfilled share of all answered Prepares; 1 when none were seen yet.</summary>
    public double PacketSuccessRate
    {
        get
        {
            long ok = Interlocked.Read(ref _fulfilled), bad = Interlocked.Read(ref _rejected);
            return ok + bad == 0 ? 1.0 : (double)ok / (ok + bad);
        }
    }

    /// <summary>p99 of the last few thousand packet latencies, in milliseconds.</summary>
    public double P99LatencyMs => _window.Percentile(0.99).TotalMilliseconds;

    public async Task WriteAsync(Stream output, CancellationToken ct) => await Registry.CollectAndExportAsTextAsync(output, ct).ConfigureAwait(false);
}

/// <summary>A fixed ring of recent latencies for the /health SLA figures (not the Prometheus histogram).</summary>
internal sealed class LatencyWindow(int capacity)
{
    private readonly long[] _ticks = new long[capacity];
    private long _count;

    public void Add(TimeSpan value)
    {
        long i = Interlocked.Increment(ref _count) - 1;
        _ticks[i % _ticks.Length] = value.Ticks;
    }

    public TimeSpan Percentile(double p)
    {
        int n = (int)Math.Min(Interlocked.Read(ref _count), _ticks.Length);
        if (n == 0) return TimeSpan.Zero;
        var copy = _ticks.AsSpan(0, n).ToArray();
        Array.Sort(copy);
        int index = Math.Clamp((int)Math.Ceiling(p * n) - 1, 0, n - 1);
        return TimeSpan.FromTicks(copy[index]);
    }
}
