using Microsoft.Extensions.Logging;

namespace M2M.Server;

/// <summary>Where a drain stands, as GET/POST /admin/drain report it.</summary>
public sealed record DrainStatus(string Status, long InFlight, int SettlementsPending, DateTimeOffset? StartedAt, DateTimeOffset? Deadline, DateTimeOffset? FinishedAt)
{
    /// <summary>running (no drain), draining, drained (all finished), timed_out (the deadline passed first).</summary>
    public bool Finished => Status is "drained" or "timed_out";
}

/// <summary>
/// Drain (POST /admin/drain, SIGTERM): refuse new Prepares with T03 and answer /health/ready 503
/// "draining", then wait for in-flight packets and for open (pending or submitted) settlements,
/// both bounded by one deadline; then close the inbound peer sessions (each once its requests are
/// answered) so the peers reconnect elsewhere. When the drain finishes, <see cref="StopRequested"/>
/// completes so the process stops and exits 0.
/// </summary>
public sealed partial class ConnectorHost
{
    private static readonly TimeSpan SettlementPoll = TimeSpan.FromMilliseconds(100);
    private readonly Lock _drainLock = new();
    private readonly TaskCompletionSource _stopRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _drain;
    private DateTimeOffset? _drainStarted, _drainDeadline, _drainFinished;
    private bool _drainTimedOut;

    /// <summary>Completes when an admin drain has finished: the process should now stop (the run command waits on it).</summary>
    public Task StopRequested => _stopRequested.Task;

    public DrainStatus DrainState
    {
        get
        {
            string status = _drain is null ? "running" : _drainFinished is null ? "draining" : _drainTimedOut ? "timed_out" : "drained";
            return new DrainStatus(status, Switch.InFlight, Settlement.OpenCount, _drainStarted, _drainDeadline, _drainFinished);
        }
    }

    /// <summary>Starts a drain (idempotent: a second call returns the running one) and returns its task.</summary>
    public Task BeginDrain(TimeSpan? timeout = null, bool thenStop = false)
    {
        Task drain;
        lock (_drainLock)
        {
            if (_drain is null)
            {
                var limit = timeout ?? _settings.DrainTimeout;
                _drainStarted = _time.GetUtcNow();
                _drainDeadline = _drainStarted + limit;
                bool settle = State == ConnectorState.Running;
                State = ConnectorState.Draining;
                _drain = DrainCoreAsync(limit, settle);
            }
            drain = _drain;
        }
        if (thenStop) _ = drain.ContinueWith(_ => _stopRequested.TrySetResult(), TaskScheduler.Default);
        return drain;
    }

    private async Task DrainCoreAsync(TimeSpan timeout, bool settle)
    {
        await Task.Yield();
        LogDraining(Switch.InFlight, timeout.TotalSeconds);
        using var deadline = new CancellationTokenSource(timeout, _time);
        try
        {
            await Switch.DrainAsync(deadline.Token).ConfigureAwait(false);
            if (settle) await SettleOpenAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _drainTimedOut = true;
            LogDrainTimedOut(Switch.InFlight, Settlement.OpenCount);
        }
        if (!_drainTimedOut)
        {
            // Nothing in flight: the peers that logged in to us can go to another node now. Closing
            // them here, not leaving it to a load balancer, keeps every reply (RELIABILITY.md R19).
            await Peers.CloseInboundAsync().ConfigureAwait(false);
        }
        _drainFinished = _time.GetUtcNow();
        if (!_drainTimedOut) LogDrained(Switch.InFlight, Settlement.OpenCount);
    }

    /// <summary>One settlement pass now (fulfills that just finished may cross a threshold), then wait until none is open.</summary>
    private async Task SettleOpenAsync(CancellationToken ct)
    {
        try
        {
            if (!ct.IsCancellationRequested) await Settlement.RunOnceAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is M2M.Core.Ledger.LedgerUnavailableException or InvalidOperationException or Microsoft.Data.Sqlite.SqliteException)
        {
            // The coordinator's own loop keeps retrying; the wait below is what matters.
        }
        while (Settlement.OpenCount > 0) await Task.Delay(SettlementPoll, _time, ct).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 1005, Level = LogLevel.Information, Message = "Drained: {InFlight} packets in flight, {Pending} settlements pending")]
    private partial void LogDrained(long inFlight, int pending);
}
