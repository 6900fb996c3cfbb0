using System.Collections.Concurrent;
using M2M.Core.Ilp;

namespace M2M.Core.Switch;

/// <summary>
/// Per-peer traffic caps (RELIABILITY.md rule 6, R16). Null fields mean "no cap".
/// A peer's packets/s is a token bucket: it refills at <see cref="PacketsPerSecond"/> and holds at
/// most <see cref="Burst"/> tokens (default: one second's worth), so short bursts pass and a
/// sustained overload is cut to the rate.
/// </summary>
public sealed record PeerLimits
{
    public double? PacketsPerSecond { get; init; }
    public double? Burst { get; init; }
    /// <summary>Prepares from this peer being handled at once (waiting for the next hop included).</summary>
    public int? MaxInFlight { get; init; }
    /// <summary>Sum of the amounts of this peer's Prepares in flight: bounds liquidity an attacker can lock up.</summary>
    public ulong? MaxInFlightValue { get; init; }

    public bool IsEmpty => PacketsPerSecond is null && MaxInFlight is null && MaxInFlightValue is null;
}

/// <summary>Counts the packets refused by a limit (labels: peer id, limit name).</summary>
public interface ILimitObserver
{
    void Rejected(string peerId, string limit);
}

/// <summary>
/// Refuses a source peer's Prepare before any ledger work when it exceeds its limits:
/// packets/s → T05 Rate Limited; in-flight count → T03 Connector Busy (we are busy for this peer,
/// retrying later succeeds); in-flight value → T04 Insufficient Liquidity (the RFC 27 code for
/// "not enough room to carry this amount now"). All three are T (temporary) errors: the sender may retry.
/// </summary>
public sealed class PeerLimitsStep(SwitchOptions options, Func<string, PeerLimits?> limitsOf, TimeProvider time, ILimitObserver? observer = null) : IPacketStep
{
    public const string RateLimit = "packets_per_second";
    public const string InFlightLimit = "in_flight";
    public const string InFlightValueLimit = "in_flight_value";

    private readonly ConcurrentDictionary<string, PeerState> _states = new(StringComparer.Ordinal);

    /// <summary>A peer without limits passes straight on: no state machine of its own around the rest of the pipeline.</summary>
    public ValueTask<IlpReply> InvokeAsync(PacketContext context, PacketHandler next)
    {
        var limits = limitsOf(context.Source.Id);
        if (limits is null || limits.IsEmpty) return next(context);
        var state = _states.GetOrAdd(context.Source.Id, static (_, a) => new PeerState(a.limits, a.time), (limits, time));
        ulong amount = context.Prepare.Amount;
        string? refused = state.TryEnter(amount);
        if (refused is not null)
        {
            observer?.Rejected(context.Source.Id, refused);
            return ValueTask.FromResult<IlpReply>(Reject(refused, context.Source.Id, limits));
        }
        return InsideLimitsAsync(context, next, state, amount);
    }

    private static async ValueTask<IlpReply> InsideLimitsAsync(PacketContext context, PacketHandler next, PeerState state, ulong amount)
    {
        try
        {
            return await next(context).ConfigureAwait(false);
        }
        finally
        {
            state.Leave(amount);
        }
    }

    /// <summary>Prepares of <paramref name="peerId"/> in flight now (count, value); for tests and diagnostics.</summary>
    public (int Count, ulong Value) InFlight(string peerId) =>
        _states.TryGetValue(peerId, out var s) ? s.Snapshot() : (0, 0);

    private IlpReject Reject(string limit, string peerId, PeerLimits l) => limit switch
    {
        RateLimit => options.Reject(RejectReason.RateLimited, $"peer '{peerId}' exceeds its limit of {l.PacketsPerSecond} packets/s"),
        InFlightLimit => options.Reject(RejectReason.InFlightLimit, $"peer '{peerId}' has {l.MaxInFlight} packets in flight, its limit"),
        _ => options.Reject(RejectReason.InFlightValueLimit, $"peer '{peerId}' would exceed its in-flight value limit of {l.MaxInFlightValue}"),
    };

    /// <summary>One peer's bucket and in-flight counters; a lock keeps the three checks atomic together.</summary>
    private sealed class PeerState(PeerLimits limits, TimeProvider time)
    {
        private readonly Lock _lock = new();
        private readonly double _capacity = limits.Burst ?? Math.Max(1, limits.PacketsPerSecond ?? 1);
        private double _tokens = limits.Burst ?? Math.Max(1, limits.PacketsPerSecond ?? 1);
        private long _refilledAt = time.GetTimestamp();
        private int _count;
        // UInt128: the sum of up to int.MaxValue amounts of at most 2^64 − 1 cannot overflow it, so no packet can
        // fail half-way through TryEnter (before: two 2^63 packets without a value cap overflowed a ulong after
        // _count++, answered T00 and leaked the slot forever; issue 13 item 9).
        private UInt128 _value;

        /// <summary>Takes a slot; returns null, or the name of the limit that refused it (nothing taken then).</summary>
        public string? TryEnter(ulong amount)
        {
            lock (_lock)
            {
                if (limits.MaxInFlight is { } maxCount && _count >= maxCount) return InFlightLimit;
                if (limits.MaxInFlightValue is { } maxValue && _value + amount > maxValue) return InFlightValueLimit;
                if (limits.PacketsPerSecond is { } rate && !TakeToken(rate)) return RateLimit;
                _value += amount;
                _count++;
                return null;
            }
        }

        public void Leave(ulong amount)
        {
            lock (_lock)
            {
                _count--;
                _value = checked(_value - amount);
            }
        }

        /// <summary>The value saturates at ulong.MaxValue (a diagnostic; the checks use the exact sum).</summary>
        public (int, ulong) Snapshot()
        {
            lock (_lock) return (_count, _value > ulong.MaxValue ? ulong.MaxValue : (ulong)_value);
        }

        private bool TakeToken(double rate)
        {
            long now = time.GetTimestamp();
            double elapsed = time.GetElapsedTime(_refilledAt, now).TotalSeconds;
            _refilledAt = now;
            _tokens = Math.Min(_capacity, _tokens + elapsed * rate);
            if (_tokens < 1) return false;
            _tokens -= 1;
            return true;
        }
    }
}
