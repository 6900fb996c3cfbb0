using System.Threading.Channels;
using M2M.Core.Ilp;
using M2M.Core.Switch;
using Prometheus;

namespace M2M.Server.Explorer;

/// <summary>
/// The Explorer's event stream. It sits in the packet observer chain (switch → tracing → this →
/// metrics), so the packet path pays one small allocation and a <see cref="ChannelWriter{T}.TryWrite"/>
/// per Prepare: never a wait, never a lock shared with readers. When the bounded channel is full the
/// event is dropped and counted (<c>explorer_events_dropped_total</c>). One pump task formats the
/// events (hex ids, strings), stores them and hands them to live subscribers (the SSE streams), each
/// with its own bounded queue that drops when that browser is slow.
/// </summary>
public sealed class ExplorerFeed : IPacketObserver, IAsyncDisposable
{
    public const int Capacity = 8192;
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
    private Channel<ExplorerEvent>[] _subscribers = [];
    private Task? _pump;

    public ExplorerFeed(IPacketObserver next, ExplorerStore store, CollectorRegistry registry, TimeProvider time)
    {
        _next = next;
        _time = time;
        Store = store;
        _dropped = Metrics.WithCustomRegistry(registry).CreateCounter("explorer_events_dropped_total",
            "Explorer events dropped because the Explorer's queue was full (the packet path never waits for it).");
    }

    public ExplorerStore Store { get; }

    /// <summary>The feed in front of <paramref name="metrics"/>, or null when the Explorer is off (then the packet path has no Explorer code at all).</summary>
    public static ExplorerFeed? CreateIfEnabled(Configuration.ExplorerSettings settings, Observability.ConnectorMetrics metrics, TimeProvider time) =>
        settings.Enabled ? new ExplorerFeed(metrics, new ExplorerStore(settings.MaxEvents, TimeSpan.FromDays(settings.RetentionDays), time), metrics.Registry, time) : null;

    public long Dropped => (long)_dropped.Value;

    private abstract record Raw(DateTimeOffset Time);
    private sealed record PacketRaw(DateTimeOffset Time, IlpPrepare Prepare, string PeerIn, string? PeerOut, IlpReply Reply, TimeSpan Elapsed) : Raw(Time);
    private sealed record PeerRaw(DateTimeOffset Time, string Peer, bool Up) : Raw(Time);

    public void PacketCompleted(PacketContext context, IlpReply reply, TimeSpan elapsed)
    {
        _next.PacketCompleted(context, reply, elapsed);
        Offer(new PacketRaw(context.ReceivedAt, context.Prepare, context.Source.Id, context.NextHop, reply, elapsed));
    }

    public void InFlightChanged(long inFlight) => _next.InFlightChanged(inFlight);

    public void PeerChanged(string peerId, bool up) => Offer(new PeerRaw(_time.GetUtcNow(), peerId, up));

    private void Offer(Raw raw)
    {
        if (!_channel.Writer.TryWrite(raw)) _dropped.Inc();
    }

    public void Start() => _pump ??= Task.Run(PumpAsync);

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
        await foreach (var raw in _channel.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            var stored = Store.Append(Format(raw));
            foreach (var s in Volatile.Read(ref _subscribers)) s.Writer.TryWrite(stored);
        }
    }

    private static ExplorerEvent Format(Raw raw) => raw switch
    {
        PacketRaw p => new ExplorerEvent
        {
            Time = p.Time,
            Type = p.Reply is IlpFulfill ? ExplorerEvent.Fulfill : ExplorerEvent.Reject,
            PacketId = Convert.ToHexStringLower(p.Prepare.ExecutionCondition.Span),
            Amount = p.Prepare.Amount.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Destination = p.Prepare.Destination,
            PeerIn = p.PeerIn,
            PeerOut = p.PeerOut,
            LatencyMs = Math.Round(p.Elapsed.TotalMilliseconds, 3),
            Code = (p.Reply as IlpReject)?.Code,
            Message = (p.Reply as IlpReject)?.Message,
            TriggeredBy = (p.Reply as IlpReject)?.TriggeredBy,
        },
        PeerRaw r => new ExplorerEvent { Time = r.Time, Type = r.Up ? ExplorerEvent.PeerUp : ExplorerEvent.PeerDown, Peer = r.Peer },
        _ => throw new InvalidOperationException("unknown explorer event"),
    };

    public async ValueTask DisposeAsync()
    {
        _channel.Writer.TryComplete();
        if (_pump is not null) await _pump.ConfigureAwait(false);
        lock (_subscribersLock)
        {
            foreach (var s in _subscribers) s.Writer.TryComplete();
            _subscribers = [];
        }
    }
}
