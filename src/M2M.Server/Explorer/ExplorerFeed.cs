using System.Globalization;
using System.Threading.Channels;
using M2M.Core.Ilp;
using M2M.Core.Routing;
using M2M.Core.Switch;
using M2M.Settlement.Coordination;
using M2M.Settlement.Evm;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace M2M.Server.Explorer;

/// <summary>
/// The Explorer's event stream. It sits in the packet observer chain (switch → tracing → this →
/// metrics), so the packet path pays one small allocation and a <see cref="ChannelWriter{T}.TryWrite"/>
/// per Prepare: never a wait, never a lock shared with readers. When the bounded channel is full the
/// event is dropped and counted (<c>explorer_events_dropped_total</c>). Settlement, payment channel,
/// peer and route events come through the same channel (<see cref="Settlements"/>, <see cref="Channels"/>,
/// <see cref="PeerChanged"/>, <see cref="RoutesChanged"/>). One pump task takes what is queued in
/// batches, formats it (hex ids, strings), writes the batch to the SQLite store in one transaction,
/// feeds the dashboard figures and hands the events to live subscribers (the SSE streams), each with
/// its own bounded queue that drops when that browser is slow.
/// </summary>
public sealed class ExplorerFeed : IPacketObserver, IAsyncDisposable
{
    public const int Capacity = 8192;
    private const int SubscriberCapacity = 1024;
    private const int BatchSize = 512;

    private readonly IPacketObserver _next;
    private readonly TimeProvider _time;
    private readonly Channel<Raw> _channel = Channel.CreateBounded<Raw>(new BoundedChannelOptions(Capacity)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait, // TryWrite then fails instead of waiting: we drop.
    });
    private readonly Counter _dropped;
    private readonly Lock _subscribersLock = new();
    private readonly CancellationTokenSource _stop = new();
    private Channel<ExplorerEvent>[] _subscribers = [];
    private Task? _pump;
    private Task? _sampler;

    public ExplorerFeed(IPacketObserver next, ExplorerStore store, CollectorRegistry registry, TimeProvider time)
    {
        _next = next;
        _time = time;
        Store = store;
        Stats = new ExplorerStats(time);
        _dropped = Metrics.WithCustomRegistry(registry).CreateCounter("explorer_events_dropped_total",
            "Explorer events dropped because the Explorer's queue was full (the packet path never waits for it).");
    }

    public ExplorerStore Store { get; }

    /// <summary>Packets/s, success rate and p99 latency over the last minute, from the events the pump saw.</summary>
    public ExplorerStats Stats { get; }

    /// <summary>
    /// The feed in front of <paramref name="metrics"/>, or null when the Explorer is off (then the packet path has no Explorer
    /// code at all). When explorer.db cannot be opened the connector still starts: one warning, and the events are kept in memory.
    /// </summary>
    public static ExplorerFeed? CreateIfEnabled(Configuration.ConnectorSettings settings, Observability.ConnectorMetrics metrics, TimeProvider time,
        ILogger log)
    {
        if (!settings.Explorer.Enabled) return null;
        string path = Accounting.ConnectorSettlement.SiblingPath(settings, ExplorerStore.FileName);
        var retention = TimeSpan.FromDays(settings.Explorer.RetentionDays);
        ExplorerStore store;
        try
        {
            store = new ExplorerStore(path, settings.Explorer.MaxEvents, retention, time);
        }
        catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException or UnauthorizedAccessException)
        {
            log.LogWarning(
                "Explorer: {Path} cannot be opened ({Reason}); its events are kept in memory until the connector stops (the books are not affected)", path, e.Message);
            store = new ExplorerStore(null, settings.Explorer.MaxEvents, retention, time);
        }
        return new ExplorerFeed(metrics, store, metrics.Registry, time);
    }

    /// <summary><paramref name="next"/> with the Explorer's settlement events in front of it (or <paramref name="next"/> alone when the Explorer is off).</summary>
    public static ISettlementObserver Settlements(ExplorerFeed? feed, ISettlementObserver next) => feed is null ? next : new SettlementTap(feed, next);

    /// <summary><paramref name="next"/> with the Explorer's payment channel events in front of it (or <paramref name="next"/> alone when the Explorer is off).</summary>
    public static IPaymentChannelObserver Channels(ExplorerFeed? feed, IPaymentChannelObserver next) => feed is null ? next : new ChannelTap(feed, next);

    public long Dropped => (long)_dropped.Value;

    private abstract record Raw(DateTimeOffset Time);
    private sealed record PacketRaw(DateTimeOffset Time, IlpPrepare Prepare, byte[] Condition, string PeerIn, string? PeerOut, IlpReply Reply, TimeSpan Elapsed) : Raw(Time);
    private sealed record RoutesRaw(DateTimeOffset Time, RoutingTable Old, RoutingTable New) : Raw(Time);
    private sealed record EventRaw(ExplorerEvent Event) : Raw(Event.Time);

    public void PacketCompleted(PacketContext context, IlpReply reply, TimeSpan elapsed)
    {
        _next.PacketCompleted(context, reply, elapsed);
        // The condition is copied now: a decoded Prepare's bytes may live in a receive buffer that is reused once the packet is done.
        Offer(new PacketRaw(context.ReceivedAt, context.Prepare, context.Prepare.ExecutionCondition.ToArray(), context.Source.Id, context.NextHop, reply, elapsed));
    }

    public void InFlightChanged(long inFlight) => _next.InFlightChanged(inFlight);

    public void PeerChanged(string peerId, bool up) => Publish(new ExplorerEvent { Time = _time.GetUtcNow(), Type = up ? ExplorerEvent.PeerUp : ExplorerEvent.PeerDown, Peer = peerId });

    /// <summary>The routing table was swapped: queued as is (the routing lock is held), compared by the pump.</summary>
    public void RoutesChanged(RoutingTable old, RoutingTable now) => Offer(new RoutesRaw(_time.GetUtcNow(), old, now));

    /// <summary>Queues an event built by the caller (settlement, channel and peer events: rare, off the packet path).</summary>
    public void Publish(ExplorerEvent e) => Offer(new EventRaw(e));

    private void Offer(Raw raw)
    {
        if (!_channel.Writer.TryWrite(raw)) _dropped.Inc();
    }

    public void Start() => _pump ??= Task.Run(PumpAsync);

    /// <summary>
    /// Starts the pump and a sampler that stores every peer's posted balance each <paramref name="interval"/>
    /// (the balances-over-time view). The sampler reads the ledger, never the packet path.
    /// </summary>
    public void Start(Func<CancellationToken, Task<IReadOnlyList<(string Peer, string Balance)>>> balances, TimeSpan interval)
    {
        Start();
        _sampler ??= Task.Run(() => SampleAsync(balances, interval, _stop.Token));
    }

    private async Task SampleAsync(Func<CancellationToken, Task<IReadOnlyList<(string Peer, string Balance)>>> balances, TimeSpan interval, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(interval, _time);
        try
        {
            do
            {
                try
                {
                    Store.AppendSamples(_time.GetUtcNow(), await balances(ct).ConfigureAwait(false));
                }
                catch (Exception e) when (e is M2M.Core.Ledger.LedgerUnavailableException or Microsoft.Data.Sqlite.SqliteException)
                {
                    // The ledger or the Explorer's file is busy or gone for a moment: the next tick tries again.
                }
            }
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    /// <summary>A live view of new events for one SSE client; dispose the lease to stop.</summary>
    public ChannelReader<ExplorerEvent> Subscribe(out IDisposable lease)
    {
        var channel = Channel.CreateBounded<ExplorerEvent>(new BoundedChannelOptions(SubscriberCapacity)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.DropOldest,
        });
        lock (_subscribersLock) _subscribers = [.. _subscribers, channel];
        lease = new Lease(this, channel);
        return channel.Reader;
    }

    /// <summary>How many SSE streams are open.</summary>
    public int Subscribers => Volatile.Read(ref _subscribers).Length;

    private sealed class Lease(ExplorerFeed feed, Channel<ExplorerEvent> channel) : IDisposable
    {
        public void Dispose()
        {
            lock (feed._subscribersLock) feed._subscribers = [.. feed._subscribers.Where(c => c != channel)];
            channel.Writer.TryComplete();
        }
    }

    private async Task PumpAsync()
    {
        var batch = new List<ExplorerEvent>(BatchSize);
        var reader = _channel.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            // Everything queued, up to a batch: one transaction per batch keeps the disk cost per event small.
            while (batch.Count < BatchSize && reader.TryRead(out var raw)) Format(raw, batch);
            if (batch.Count == 0) continue;
            IReadOnlyList<ExplorerEvent> stored;
            try
            {
                stored = Store.Append(batch);
            }
            catch (Microsoft.Data.Sqlite.SqliteException)
            {
                stored = batch; // the file is busy or broken: the live view still gets them (sequence 0), the history does not
            }
            batch.Clear();
            var subscribers = Volatile.Read(ref _subscribers);
            foreach (var e in stored)
            {
                if (e.Type is ExplorerEvent.Fulfill or ExplorerEvent.Reject) Stats.Add(e.Time, e.Type == ExplorerEvent.Fulfill, e.LatencyMs ?? 0);
                foreach (var s in subscribers) s.Writer.TryWrite(e);
            }
        }
    }

    private static void Format(Raw raw, List<ExplorerEvent> into)
    {
        switch (raw)
        {
            case PacketRaw p:
                into.Add(new ExplorerEvent
                {
                    Time = p.Time,
                    Type = p.Reply is IlpFulfill ? ExplorerEvent.Fulfill : ExplorerEvent.Reject,
                    PacketId = Convert.ToHexStringLower(p.Condition),
                    Amount = p.Prepare.Amount.ToString(CultureInfo.InvariantCulture),
                    Destination = p.Prepare.Destination,
                    PeerIn = p.PeerIn,
                    PeerOut = p.PeerOut,
                    LatencyMs = Math.Round(p.Elapsed.TotalMilliseconds, 3),
                    Code = (p.Reply as IlpReject)?.Code,
                    Message = (p.Reply as IlpReject)?.Message,
                    TriggeredBy = (p.Reply as IlpReject)?.TriggeredBy,
                });
                break;
            case RoutesRaw r:
                into.AddRange(RouteChanges(r.Time, r.Old, r.New));
                break;
            case EventRaw e:
                into.Add(e.Event);
                break;
        }
    }

    /// <summary>What changed between two tables: one event per prefix added, removed or given another next hop or priority.</summary>
    public static IEnumerable<ExplorerEvent> RouteChanges(DateTimeOffset time, RoutingTable old, RoutingTable now)
    {
        var before = old.Routes.ToDictionary(r => r.Prefix, StringComparer.Ordinal);
        var after = now.Routes.ToDictionary(r => r.Prefix, StringComparer.Ordinal);
        foreach (var r in after.Values.OrderBy(r => r.Prefix, StringComparer.Ordinal))
        {
            if (!before.TryGetValue(r.Prefix, out var was)) yield return Route(ExplorerEvent.RouteAdded, r);
            else if (was != r) yield return Route(ExplorerEvent.RouteChanged, r) with { Message = $"was via {was.NextHop} (priority {was.Priority})" };
        }
        foreach (var r in before.Values.Where(r => !after.ContainsKey(r.Prefix)).OrderBy(r => r.Prefix, StringComparer.Ordinal))
            yield return Route(ExplorerEvent.RouteRemoved, r);

        ExplorerEvent Route(string type, Route r) => new() { Time = time, Type = type, Prefix = r.Prefix, Peer = r.NextHop };
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_sampler is not null) await _sampler.ConfigureAwait(false);
        _channel.Writer.TryComplete();
        if (_pump is not null) await _pump.ConfigureAwait(false);
        lock (_subscribersLock)
        {
            foreach (var s in _subscribers) s.Writer.TryComplete();
            _subscribers = [];
        }
        Store.Dispose();
        _stop.Dispose();
    }

    /// <summary>Settlement events to the Explorer, then to the next observer (tracing and metrics).</summary>
    private sealed class SettlementTap(ExplorerFeed feed, ISettlementObserver next) : ISettlementObserver
    {
        public void Requested(SettlementRecord s)
        {
            next.Requested(s);
            feed.Publish(Event(feed, s, ExplorerEvent.SettlementRequested));
        }

        public void Executed(SettlementRecord s, bool success, TimeSpan latency)
        {
            next.Executed(s, success, latency);
            feed.Publish(Event(feed, s, success ? ExplorerEvent.SettlementPaid : ExplorerEvent.SettlementFailed) with
            {
                LatencyMs = Math.Round(latency.TotalMilliseconds, 3),
            });
        }

        private static ExplorerEvent Event(ExplorerFeed feed, SettlementRecord s, string type) => new()
        {
            Time = feed._time.GetUtcNow(), Type = type, Peer = s.PeerId, Amount = s.Amount.ToString(CultureInfo.InvariantCulture),
            Method = s.Method, SettlementId = s.Id.ToString(),
        };
    }

    /// <summary>Payment channel events to the Explorer, then to the next observer (metrics).</summary>
    private sealed class ChannelTap(ExplorerFeed feed, IPaymentChannelObserver next) : IPaymentChannelObserver
    {
        public void ChannelFunded(string method, string asset) => next.ChannelFunded(method, asset);

        public void ChannelDisputed(string method, string channelId)
        {
            next.ChannelDisputed(method, channelId);
            feed.Publish(Event(ExplorerEvent.ChannelDisputed, method, channelId));
        }

        public void ChannelOpened(string method, string peerId, string channelId, string depositWei)
        {
            next.ChannelOpened(method, peerId, channelId, depositWei);
            feed.Publish(Event(ExplorerEvent.ChannelOpened, method, channelId) with { Peer = peerId, Amount = depositWei, Message = "deposit in wei" });
        }

        public void ClaimSent(string method, string peerId, string channelId, string cumulativeWei, ulong amount)
        {
            next.ClaimSent(method, peerId, channelId, cumulativeWei, amount);
            feed.Publish(Event(ExplorerEvent.ClaimSent, method, channelId) with { Peer = peerId, Amount = amount.ToString(CultureInfo.InvariantCulture), Reference = cumulativeWei });
        }

        public void ClaimReceived(string method, string peerId, string channelId, string cumulativeWei, ulong amount)
        {
            next.ClaimReceived(method, peerId, channelId, cumulativeWei, amount);
            feed.Publish(Event(ExplorerEvent.ClaimReceived, method, channelId) with { Peer = peerId, Amount = amount.ToString(CultureInfo.InvariantCulture), Reference = cumulativeWei });
        }

        public void ChannelClosed(string method, string channelId)
        {
            next.ChannelClosed(method, channelId);
            feed.Publish(Event(ExplorerEvent.ChannelClosed, method, channelId));
        }

        private ExplorerEvent Event(string type, string method, string channelId) => new() { Time = feed._time.GetUtcNow(), Type = type, Method = method, ChannelId = channelId };
    }
}
