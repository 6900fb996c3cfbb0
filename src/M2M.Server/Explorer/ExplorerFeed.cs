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
/// metrics), so the packet path pays one copy of a small struct into a bounded channel per Prepare
/// (<see cref="ChannelWriter{T}.TryWrite"/>): no strings, no JSON, never a wait, never a lock shared
/// with readers. When the channel is full the event is dropped and counted
/// (<c>explorer_events_dropped_total</c>). Settlement, payment channel, peer and route events come
/// through the same channel (<see cref="Settlements"/>, <see cref="Channels"/>, <see cref="PeerChanged"/>,
/// <see cref="RoutesChanged"/>). One pump task wakes at most every <see cref="GatherInterval"/> and takes
/// everything queued: every packet is counted (per-second counts by outcome and pair of peers, a latency
/// histogram: the dashboard's figures and explorer.db's <c>packet_seconds</c>), and only a sample of
/// packets becomes events (the first <see cref="PacketEventsPerSecond"/> fulfills and as many rejects
/// answered in each second), formatted (hex ids, strings) and written with the counts in one
/// transaction, then handed to live subscribers (the SSE streams), each with its own bounded queue
/// that drops when that browser is slow. Other events are never sampled.
/// </summary>
public sealed class ExplorerFeed : IPacketObserver, IAsyncDisposable
{
    public const int Capacity = 16384;
    /// <summary>Packet events stored (and streamed) per second and outcome; more are counted only.</summary>
    public const int PacketEventsPerSecond = 100;
    /// <summary>How long the pump gathers events before it writes them: one transaction and one wake-up per interval under load.</summary>
    public static readonly TimeSpan GatherInterval = TimeSpan.FromMilliseconds(100);
    private const int SubscriberCapacity = 1024;

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

    /// <summary>Packets/s, success rate and p99 latency over the last minute, from every packet the pump saw (sampled or not).</summary>
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

    /// <summary>The Explorer's wallet events (created, suspended, reactivated, archived), for <see cref="M2M.Wallets.WalletStore.Observer"/>.</summary>
    public M2M.Wallets.IWalletObserver Wallets => new WalletTap(this);

    public long Dropped => (long)_dropped.Value;

    /// <summary>32 bytes held inline (the packet's condition), so queuing a packet allocates nothing.</summary>
    [System.Runtime.CompilerServices.InlineArray(32)]
    private struct Bytes32
    {
        private byte _first;
    }

    /// <summary>
    /// What the packet path queues: a packet's fields by value or as references to strings the packet already has
    /// (<see cref="Other"/> null), or another event (<see cref="Other"/>: an <see cref="ExplorerEvent"/> or a <see cref="RoutesRaw"/>).
    /// </summary>
    private struct Raw
    {
        public DateTimeOffset Time;
        public TimeSpan Elapsed;
        public ulong Amount;
        public Bytes32 Condition;
        public int ConditionLength;
        public string? Destination;
        public string? PeerIn;
        public string? PeerOut;
        /// <summary>Null for a fulfill.</summary>
        public IlpReject? Reject;
        public object? Other;
    }

    private sealed record RoutesRaw(DateTimeOffset Time, RoutingTable Old, RoutingTable New);

    public void PacketCompleted(PacketContext context, IlpReply reply, TimeSpan elapsed)
    {
        _next.PacketCompleted(context, reply, elapsed);
        var prepare = context.Prepare;
        var raw = new Raw
        {
            Time = context.ReceivedAt, Elapsed = elapsed, Amount = prepare.Amount, Destination = prepare.Destination,
            PeerIn = context.Source.Id, PeerOut = context.NextHop, Reject = reply as IlpReject,
        };
        // The condition is copied now: a decoded Prepare's bytes may live in a receive buffer that is reused once the packet is done.
        var condition = prepare.ExecutionCondition.Span;
        raw.ConditionLength = Math.Min(condition.Length, 32);
        condition[..raw.ConditionLength].CopyTo(raw.Condition);
        if (!_channel.Writer.TryWrite(raw)) _dropped.Inc();
    }

    public void PeerChanged(string peerId, bool up) => Publish(new ExplorerEvent { Time = _time.GetUtcNow(), Type = up ? ExplorerEvent.PeerUp : ExplorerEvent.PeerDown, Peer = peerId });

    /// <summary>The routing table was swapped: queued as is (the routing lock is held), compared by the pump.</summary>
    public void RoutesChanged(RoutingTable old, RoutingTable now) => Offer(new RoutesRaw(_time.GetUtcNow(), old, now));

    /// <summary>Queues an event built by the caller (settlement, channel, wallet and peer events: rare, off the packet path).</summary>
    public void Publish(ExplorerEvent e) => Offer(e);

    private void Offer(object other)
    {
        if (!_channel.Writer.TryWrite(new Raw { Other = other })) _dropped.Inc();
    }

    public void Start()
    {
        if (_pump is not null) return;
        // The last minute's counts from explorer.db: the dashboard's figures survive a restart.
        long now = _time.GetUtcNow().ToUnixTimeSeconds();
        try
        {
            Stats.Add(Store.Seconds(now - ExplorerStats.WindowSeconds, now + 1, null));
        }
        catch (Microsoft.Data.Sqlite.SqliteException)
        {
            // The figures start empty; the events are still there.
        }
        _pump = Task.Run(PumpAsync);
    }
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
        var reader = _channel.Reader;
        var batch = new List<ExplorerEvent>();
        var seconds = new Dictionary<(long Second, string PeerIn, string PeerOut), Counts>();
        var sampling = new Sampling();
        while (true)
        {
            // Idle with nothing to write: wait for an event. With counts of an open second pending: come back after the gather interval.
            if (seconds.Count == 0 && !await reader.WaitToReadAsync().ConfigureAwait(false)) break;
            while (reader.TryRead(out var raw))
            {
                if (raw.Other is null) Count(raw, seconds, sampling, batch);
                else if (raw.Other is RoutesRaw r) batch.AddRange(RouteChanges(r.Time, r.Old, r.New));
                else batch.Add((ExplorerEvent)raw.Other);
            }
            // Counts of seconds that are over (and all of them when stopping) go to the file with the events.
            bool stopping = reader.Completion.IsCompleted || _stop.IsCancellationRequested;
            long open = _time.GetUtcNow().ToUnixTimeSeconds() - 1;
            var done = seconds.Where(kv => stopping || kv.Key.Second < open)
                .Select(kv => new PacketSecond(kv.Key.Second, kv.Key.PeerIn, kv.Key.PeerOut, kv.Value.Fulfilled, kv.Value.Rejected, kv.Value.Stored, kv.Value.Latency))
                .ToList();
            foreach (var d in done) seconds.Remove((d.Second, d.PeerIn, d.PeerOut));
            if (batch.Count > 0 || done.Count > 0)
            {
                IReadOnlyList<ExplorerEvent> stored;
                try
                {
                    stored = Store.Append(batch, done);
                }
                catch (Microsoft.Data.Sqlite.SqliteException)
                {
                    stored = [.. batch]; // the file is busy or broken: the live view still gets them (sequence 0), the history does not
                }
                batch.Clear();
                var subscribers = Volatile.Read(ref _subscribers);
                foreach (var e in stored)
                    foreach (var s in subscribers) s.Writer.TryWrite(e);
            }
            if (reader.Completion.IsCompleted) break;
            if (!_stop.IsCancellationRequested)
            {
                // Gather: under load the pump wakes (and writes) once per interval, not once per packet.
                try
                {
                    await Task.Delay(GatherInterval, _time, _stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // stopping: drain what is left without waiting
                }
            }
        }
        if (seconds.Count > 0)
        {
            try
            {
                Store.Append([], [.. seconds.Select(kv => new PacketSecond(kv.Key.Second, kv.Key.PeerIn, kv.Key.PeerOut, kv.Value.Fulfilled, kv.Value.Rejected, kv.Value.Stored, kv.Value.Latency))]);
            }
            catch (Microsoft.Data.Sqlite.SqliteException)
            {
                // The last second's counts are lost with the file; the books are not affected.
            }
        }
    }

    /// <summary>One second's counts for one pair of peers.</summary>
    private sealed class Counts
    {
        public long Fulfilled;
        public long Rejected;
        public long Stored;
        public readonly int[] Latency = new int[LatencyHistogram.Buckets];
    }

    /// <summary>How many fulfill and reject events were stored in the current second.</summary>
    private sealed class Sampling
    {
        public long Second;
        public int Fulfills;
        public int Rejects;
    }

    /// <summary>Counts one answered packet and, within the second's budget, turns it into an event.</summary>
    private void Count(in Raw p, Dictionary<(long, string, string), Counts> seconds, Sampling sampling, List<ExplorerEvent> into)
    {
        var answered = p.Time + p.Elapsed;
        long second = answered.ToUnixTimeSeconds();
        if (second > sampling.Second) (sampling.Second, sampling.Fulfills, sampling.Rejects) = (second, 0, 0);
        bool fulfilled = p.Reject is null;
        bool keep = fulfilled ? sampling.Fulfills++ < PacketEventsPerSecond : sampling.Rejects++ < PacketEventsPerSecond;
        int bucket = LatencyHistogram.Bucket(p.Elapsed);
        Stats.Add(second, fulfilled, bucket, keep);
        var key = (second, p.PeerIn!, p.PeerOut ?? "");
        if (!seconds.TryGetValue(key, out var counts)) seconds[key] = counts = new Counts();
        if (fulfilled) counts.Fulfilled++;
        else counts.Rejected++;
        if (keep) counts.Stored++;
        counts.Latency[bucket]++;
        if (!keep) return;
        into.Add(new ExplorerEvent
        {
            Time = p.Time,
            Type = fulfilled ? ExplorerEvent.Fulfill : ExplorerEvent.Reject,
            PacketId = Convert.ToHexStringLower(((ReadOnlySpan<byte>)p.Condition)[..p.ConditionLength]),
            Amount = p.Amount.ToString(CultureInfo.InvariantCulture),
            Destination = p.Destination,
            PeerIn = p.PeerIn,
            PeerOut = p.PeerOut,
            LatencyMs = Math.Round(p.Elapsed.TotalMilliseconds, 3),
            Code = p.Reject?.Code,
            Message = p.Reject?.Message,
            TriggeredBy = p.Reject?.TriggeredBy,
        });
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

    /// <summary>Wallet changes to the Explorer (after the wallet store committed them).</summary>
    private sealed class WalletTap(ExplorerFeed feed) : M2M.Wallets.IWalletObserver
    {
        public void WalletChanged(string action, M2M.Wallets.AgentWallet wallet, string? detail)
        {
            string? type = action switch
            {
                "created" => ExplorerEvent.WalletCreated,
                "suspended" => ExplorerEvent.WalletSuspended,
                "reactivated" => ExplorerEvent.WalletReactivated,
                "archived" => ExplorerEvent.WalletArchived,
                _ => null,
            };
            if (type is not null) feed.Publish(new ExplorerEvent { Time = feed._time.GetUtcNow(), Type = type, Agent = wallet.AgentId, Message = detail });
        }
    }
}
