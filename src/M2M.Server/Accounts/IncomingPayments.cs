using System.Collections.Concurrent;
using System.Threading.Channels;
using M2M.Core.Stream;

namespace M2M.Server.Accounts;

/// <summary>One incoming payment event, as the notification stream sends it (amounts as decimal strings).</summary>
public sealed record IncomingPaymentEvent(long Seq, string AccountId, string Amount, string ConnectionId, string? ConnectionTag,
    string ConnectionTotal, DateTimeOffset ReceivedAt);

/// <summary>
/// Fan-out of money received by hosted accounts to live subscribers (the SSE stream per account).
/// Posted to the ledger before it is published, so an event never announces money that is not there.
/// A slow subscriber loses its oldest events beyond <see cref="SubscriberBuffer"/> rather than slowing payments.
/// </summary>
public sealed class IncomingPayments : IDisposable
{
    /// <summary>Events kept per subscriber that has not read them yet.</summary>
    public const int SubscriberBuffer = 1_000;

    private readonly ConcurrentDictionary<string, ConcurrentDictionary<Channel<IncomingPaymentEvent>, byte>> _subscribers = new(StringComparer.Ordinal);
    private long _seq;

    public void Publish(StreamIncoming incoming)
    {
        if (!_subscribers.TryGetValue(incoming.AccountId, out var set)) return;
        var e = new IncomingPaymentEvent(Interlocked.Increment(ref _seq), incoming.AccountId, incoming.Amount.ToString(System.Globalization.CultureInfo.InvariantCulture),
            incoming.ConnectionId, incoming.ConnectionTag, incoming.ConnectionTotal.ToString(System.Globalization.CultureInfo.InvariantCulture), DateTimeOffset.UtcNow);
        foreach (var channel in set.Keys) channel.Writer.TryWrite(e);
    }

    /// <summary>A subscription; dispose it (or cancel the reader) to stop.</summary>
    public Subscription Subscribe(string accountId)
    {
        var channel = Channel.CreateBounded<IncomingPaymentEvent>(new BoundedChannelOptions(SubscriberBuffer) { FullMode = BoundedChannelFullMode.DropOldest });
        _subscribers.GetOrAdd(accountId, _ => new()).TryAdd(channel, 0);
        return new Subscription(channel.Reader, () => { if (_subscribers.TryGetValue(accountId, out var set)) set.TryRemove(channel, out _); });
    }

    public void Dispose()
    {
        foreach (var set in _subscribers.Values)
            foreach (var channel in set.Keys) channel.Writer.TryComplete();
    }

    public sealed class Subscription(ChannelReader<IncomingPaymentEvent> reader, Action unsubscribe) : IDisposable
    {
        public ChannelReader<IncomingPaymentEvent> Reader { get; } = reader;

        public void Dispose() => unsubscribe();
    }
}
