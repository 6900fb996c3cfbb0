using Microsoft.Extensions.Logging;

namespace M2M.Btp;

/// <summary>
/// Caps unauthenticated BTP connections apart from authenticated ones (issue 13, defect 8: ~12,000
/// idle WebSockets filled Kestrel's upgraded-connection cap, real peers got HTTP 500 and thousands
/// of stack traces reached the log). Rules:
/// <list type="bullet">
/// <item>At most <see cref="MaxUnauthenticated"/> connections wait for auth; a new one beyond that
/// closes the oldest waiting one (it had the longest chance), so a real peer's fresh connection always
/// gets its turn: to push it out an attacker must open the whole cap's worth of connections during
/// the peer's one auth round trip.</item>
/// <item>Authenticated sessions are not counted against that cap (the host sizes the transport's cap
/// as both together), so idle sockets never take an authenticated peer's place.</item>
/// <item>Under pressure (90 % of the cap in use, or the source over its failure budget) new connections
/// get half the configured auth timeout (at least <see cref="MinPressureAuthTimeout"/>).</item>
/// <item>Timeouts, evictions and refusals are counted and logged as one summary line per
/// <see cref="SummaryInterval"/>, never a line (or a stack trace) per connection.</item>
/// </list>
/// </summary>
public sealed partial class BtpConnectionGate : IDisposable
{
    private readonly LinkedList<Ticket> _waiting = new();
    private readonly Lock _gate = new();
    private readonly ILogger _log;
    private readonly ITimer _summary;
    private long _authenticated, _timedOut, _evicted, _refused;

    /// <param name="maxUnauthenticated">Connections allowed to wait for auth at once (default 10,000: far more than a real
    /// burst of reconnecting peers, few enough that their buffers and timers stay small).</param>
    public BtpConnectionGate(ILogger log, int maxUnauthenticated = DefaultMaxUnauthenticated, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxUnauthenticated, 1);
        _log = log;
        MaxUnauthenticated = maxUnauthenticated;
        _summary = (time ?? TimeProvider.System).CreateTimer(_ => LogSummary(), null, SummaryInterval, SummaryInterval);
    }

    public const int DefaultMaxUnauthenticated = 10_000;

    /// <summary>Floor of the auth timeout under pressure: still far more than a real peer's one round trip.</summary>
    public static readonly TimeSpan MinPressureAuthTimeout = TimeSpan.FromSeconds(2);

    public static readonly TimeSpan SummaryInterval = TimeSpan.FromSeconds(10);

    public int MaxUnauthenticated { get; }

    public int Unauthenticated { get { lock (_gate) return _waiting.Count; } }

    public long Authenticated => Interlocked.Read(ref _authenticated);

    /// <summary>Connections closed because the unauthenticated cap was reached (oldest first), since start.</summary>
    public long Evicted => Interlocked.Read(ref _evicted);

    /// <summary>Connections that never sent their auth in time, since start.</summary>
    public long TimedOut => Interlocked.Read(ref _timedOut);

    /// <summary>
    /// Registers a connection that has not authenticated yet. <paramref name="evict"/> closes it if the cap
    /// later needs its place; <paramref name="sourceUnderPressure"/> shortens its auth timeout.
    /// </summary>
    public Ticket Admit(Action evict, TimeSpan authTimeout, bool sourceUnderPressure)
    {
        Ticket? oldest = null;
        Ticket ticket;
        lock (_gate)
        {
            bool pressure = sourceUnderPressure || _waiting.Count >= MaxUnauthenticated / 10 * 9;
            var shortened = authTimeout / 2 > MinPressureAuthTimeout ? authTimeout / 2 : MinPressureAuthTimeout;
            ticket = new Ticket(this, evict, pressure && shortened < authTimeout ? shortened : authTimeout);
            if (_waiting.Count >= MaxUnauthenticated)
            {
                oldest = _waiting.First!.Value;
                _waiting.RemoveFirst();
                oldest.Node = null;
            }
            ticket.Node = _waiting.AddLast(ticket);
        }
        if (oldest is not null)
        {
            Interlocked.Increment(ref _evicted);
            oldest.Evict();
        }
        return ticket;
    }

    /// <summary>The transport refused an upgrade (its own cap): counted for the summary, answered 503 by the host.</summary>
    public void CountRefused() => Interlocked.Increment(ref _refused);

    private void Leave(Ticket t)
    {
        lock (_gate)
        {
            if (t.Node is null) return;
            _waiting.Remove(t.Node);
            t.Node = null;
        }
    }

    private long _lastTimedOut, _lastEvicted, _lastRefused;

    private readonly Lock _summaryLock = new();

    private void LogSummary()
    {
        long dt, de, dr;
        lock (_summaryLock)
        {
            long timedOut = TimedOut, evicted = Evicted, refused = Interlocked.Read(ref _refused);
            (dt, de, dr) = (timedOut - _lastTimedOut, evicted - _lastEvicted, refused - _lastRefused);
            (_lastTimedOut, _lastEvicted, _lastRefused) = (timedOut, evicted, refused);
        }
        if (dt == 0 && de == 0 && dr == 0) return;
        LogPressure(Unauthenticated, MaxUnauthenticated, Authenticated, SummaryInterval.TotalSeconds, dt, de, dr);
    }

    [LoggerMessage(EventId = 2005, Level = LogLevel.Warning,
        Message = "BTP unauthenticated connections: {Open} waiting for auth (cap {Cap}), {Authenticated} authenticated; in the last {Seconds} s: {TimedOut} auth timeouts, {Evicted} closed to make room (oldest first), {Refused} upgrades refused")]
    private partial void LogPressure(int open, int cap, long authenticated, double seconds, long timedOut, long evicted, long refused);

    /// <summary>Stops the summary timer after logging what the last interval saw.</summary>
    public void Dispose()
    {
        _summary.Dispose();
        LogSummary();
    }

    /// <summary>One connection's place in the gate: <see cref="Authenticated"/> on success, disposed when the connection ends.</summary>
    public sealed class Ticket : IDisposable
    {
        private readonly BtpConnectionGate _owner;
        private readonly Action _evict;
        private int _state; // 0 waiting, 1 authenticated, 2 done

        internal Ticket(BtpConnectionGate owner, Action evict, TimeSpan authTimeout)
        {
            _owner = owner;
            _evict = evict;
            AuthTimeout = authTimeout;
        }

        internal LinkedListNode<Ticket>? Node { get; set; }

        /// <summary>The auth timeout this connection gets (shorter under pressure).</summary>
        public TimeSpan AuthTimeout { get; }

        public void Authenticated()
        {
            _owner.Leave(this);
            if (Interlocked.CompareExchange(ref _state, 1, 0) == 0) Interlocked.Increment(ref _owner._authenticated);
        }

        public void TimedOut() => Interlocked.Increment(ref _owner._timedOut);

        internal void Evict()
        {
            try
            {
                _evict();
            }
            catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException)
            {
                // already closing
            }
        }

        public void Dispose()
        {
            _owner.Leave(this);
            if (Interlocked.Exchange(ref _state, 2) == 1) Interlocked.Decrement(ref _owner._authenticated);
        }
    }
}
