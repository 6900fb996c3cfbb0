using M2M.Core.Ledger;
using Microsoft.Extensions.Logging;

namespace M2M.Settlement.Coordination;

/// <summary>Settlement outcomes, for metrics.</summary>
public interface ISettlementObserver
{
    void Executed(SettlementRecord settlement, bool success, TimeSpan latency);
}

public sealed record SettlementOptions
{
    /// <summary>How often thresholds and due retries are checked.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(500);
    /// <summary>First retry delay; doubles per attempt (RFC 38 engines retry with backoff up to an hour).</summary>
    public TimeSpan BaseRetryDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromHours(1);
    /// <summary>After this many failed attempts the settlement is marked failed and an operator must act.</summary>
    public int MaxAttempts { get; init; } = 20;
}

/// <summary>A request the coordinator refuses (unknown peer, bad amount…): answered 400 with the message.</summary>
public sealed class SettlementRequestException(string message) : Exception(message);

/// <summary>
/// Creates settlements when a peer's posted balance (what we owe it) reaches its threshold, or
/// on request, and drives each through pending → submitted → confirmed | failed. Each step is
/// committed to the store before the next action, a peer has at most one open settlement, and
/// both the payment (by settlement id) and the ledger transfer (id derived from it) are
/// idempotent, so retries and restarts never settle twice.
/// </summary>
public sealed partial class SettlementCoordinator : IAsyncDisposable
{
    private readonly SettlementStore _store;
    private readonly ILedger _ledger;
    private readonly IReadOnlyDictionary<string, ISettlementMethod> _methods;
    private readonly IReadOnlyDictionary<string, PeerSettlementPolicy> _policies;
    private readonly TimeProvider _time;
    private readonly SettlementOptions _options;
    private readonly ILogger _log;
    private readonly ISettlementObserver? _observer;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public SettlementCoordinator(SettlementStore store, ILedger ledger, IEnumerable<ISettlementMethod> methods, IEnumerable<PeerSettlementPolicy> policies,
        TimeProvider time, ILogger log, SettlementOptions? options = null, ISettlementObserver? observer = null)
    {
        _store = store;
        _ledger = ledger;
        _methods = methods.ToDictionary(m => m.Name, StringComparer.Ordinal);
        _policies = policies.ToDictionary(p => p.PeerId, StringComparer.Ordinal);
        _time = time;
        _log = log;
        _options = options ?? new SettlementOptions();
        _observer = observer;
    }

    public SettlementStore Store => _store;

    public IReadOnlyCollection<string> Methods => _methods.Keys.ToList();

    /// <summary>Settled / attempted, over the records in the store; 1 when none finished yet.</summary>
    public double SuccessRate
    {
        get
        {
            var done = _store.List().Where(r => !r.IsOpen).ToList();
            return done.Count == 0 ? 1.0 : (double)done.Count(r => r.State == SettlementState.Confirmed) / done.Count;
        }
    }

    public int OpenCount => _store.List(SettlementState.Pending).Count + _store.List(SettlementState.Submitted).Count;

    /// <summary>Creates the settlement accounts and starts the loop (which first resumes open records).</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        var accounts = _policies.Values.Select(p => SettlementAccount(p.AssetCode, p.AssetScale)).DistinctBy(a => a.Id).ToList();
        if (accounts.Count > 0) await _ledger.CreateAccountsAsync(accounts, ct).ConfigureAwait(false);
        _loop = Task.Run(() => LoopAsync(_stop.Token), CancellationToken.None);
    }

    /// <summary>Settles a peer now (POST /settlement/execute). Amount defaults to balance − settleTo.</summary>
    public async Task<SettlementRecord> RequestAsync(string peerId, ulong? amount, string? method, CancellationToken ct)
    {
        if (!_policies.TryGetValue(peerId, out var policy)) throw new SettlementRequestException($"peer '{peerId}' has no settlement configured (peers[].settlement)");
        string chosen = method ?? policy.Method;
        if (!_methods.ContainsKey(chosen))
            throw new SettlementRequestException($"method '{chosen}' is not available; available: {(_methods.Count == 0 ? "none" : string.Join(", ", _methods.Keys))}");
        var balance = await OwedAsync(policy, ct).ConfigureAwait(false);
        ulong settle = amount ?? (balance > policy.SettleTo ? balance - policy.SettleTo : 0);
        if (settle == 0) throw new SettlementRequestException($"nothing to settle: we owe '{peerId}' {balance} (settleTo {policy.SettleTo})");
        if (settle > balance) throw new SettlementRequestException($"amount {settle} is more than the {balance} we owe '{peerId}'");
        return Create(policy, chosen, settle);
    }

    /// <summary>One pass: open settlements for peers over their threshold, then work every due record.</summary>
    public async Task RunOnceAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            foreach (var policy in _policies.Values)
            {
                if (!_methods.ContainsKey(policy.Method) || _store.OpenFor(policy.PeerId) is not null || TooSoon(policy)) continue;
                ulong owed = await OwedAsync(policy, ct).ConfigureAwait(false);
                if (owed >= policy.Threshold && owed > policy.SettleTo) Create(policy, policy.Method, owed - policy.SettleTo);
            }
            var now = _time.GetUtcNow();
            foreach (var record in _store.List(SettlementState.Pending).Concat(_store.List(SettlementState.Submitted)))
            {
                if (record.State == SettlementState.Submitted || record.NextAttemptAt <= now) await ExecuteAsync(record, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private bool TooSoon(PeerSettlementPolicy policy) =>
        policy.MinInterval > TimeSpan.Zero
        && _store.List(peerId: policy.PeerId).LastOrDefault() is { } last
        && _time.GetUtcNow() - last.CreatedAt < policy.MinInterval;

    private SettlementRecord Create(PeerSettlementPolicy policy, string method, ulong amount)
    {
        var now = _time.GetUtcNow();
        var record = _store.CreateOrGetOpen(new SettlementRecord
        {
            Id = Guid.NewGuid(), PeerId = policy.PeerId, Method = method, Amount = amount, Token = policy.Token,
            State = SettlementState.Pending, CreatedAt = now, UpdatedAt = now, NextAttemptAt = now,
        });
        LogCreated(record.Id, record.PeerId, record.Amount, record.Method);
        return record;
    }

    private async Task ExecuteAsync(SettlementRecord record, CancellationToken ct)
    {
        var policy = _policies[record.PeerId];
        var submitted = record with { State = SettlementState.Submitted, Attempts = record.Attempts + 1, UpdatedAt = _time.GetUtcNow() };
        _store.Update(submitted);
        long started = _time.GetTimestamp();
        try
        {
            var receipt = await _methods[record.Method].SettleAsync(submitted, ct).ConfigureAwait(false);
            await MoveInLedgerAsync(submitted, policy, ct).ConfigureAwait(false);
            _store.Update(submitted with { State = SettlementState.Confirmed, Reference = receipt.Reference, LastError = null, UpdatedAt = _time.GetUtcNow() });
            _observer?.Executed(submitted, success: true, _time.GetElapsedTime(started));
            LogConfirmed(record.Id, record.PeerId, record.Amount, receipt.Reference);
        }
        catch (Exception e) when (e is SettlementFailedException or LedgerUnavailableException or HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            bool final = submitted.Attempts >= _options.MaxAttempts;
            var delay = RetryDelay(submitted.Attempts);
            _store.Update(submitted with
            {
                State = final ? SettlementState.Failed : SettlementState.Pending,
                LastError = e.Message,
                UpdatedAt = _time.GetUtcNow(),
                NextAttemptAt = _time.GetUtcNow() + delay,
            });
            if (final) _observer?.Executed(submitted, success: false, _time.GetElapsedTime(started));
            LogAttemptFailed(record.Id, record.PeerId, submitted.Attempts, e.Message, final ? "marked failed" : $"retry in {delay.TotalSeconds:F1} s");
        }
    }

    private TimeSpan RetryDelay(int attempts)
    {
        double factor = Math.Pow(2, Math.Min(attempts - 1, 30));
        var delay = TimeSpan.FromTicks((long)Math.Min(_options.BaseRetryDelay.Ticks * factor, _options.MaxRetryDelay.Ticks));
        return delay;
    }

    /// <summary>Debits the peer's account by what we paid it (the ledger transfer's id comes from the settlement id).</summary>
    private async Task MoveInLedgerAsync(SettlementRecord record, PeerSettlementPolicy policy, CancellationToken ct)
    {
        uint ledger = PeerAccounts.LedgerFor(policy.AssetCode, policy.AssetScale);
        var bytes = record.Id.ToByteArray();
        var transfer = new Transfer
        {
            Id = new UInt128(BitConverter.ToUInt64(bytes, 8), BitConverter.ToUInt64(bytes, 0)),
            DebitAccountId = PeerAccounts.PeerAccountId(policy.PeerId, ledger),
            CreditAccountId = SettlementAccount(policy.AssetCode, policy.AssetScale).Id,
            Amount = record.Amount,
            Ledger = ledger,
            Code = SettlementTransferCode,
        };
        var result = (await _ledger.CreateTransfersAsync([transfer], ct).ConfigureAwait(false))[0];
        if (!result.IsApplied()) throw new SettlementFailedException($"paid, but the ledger refused the settlement transfer: {result}");
    }

    private async Task<ulong> OwedAsync(PeerSettlementPolicy policy, CancellationToken ct)
    {
        var account = await _ledger.LookupAccountAsync(PeerAccounts.PeerAccountId(policy.PeerId, PeerAccounts.LedgerFor(policy.AssetCode, policy.AssetScale)), ct).ConfigureAwait(false);
        if (account is null || account.PostedBalance <= 0) return 0;
        return account.PostedBalance > ulong.MaxValue ? ulong.MaxValue : (ulong)account.PostedBalance;
    }

    public const ushort SettlementTransferCode = 2;

    /// <summary>The account that records value paid out to peers, one per asset.</summary>
    public static Account SettlementAccount(string assetCode, byte assetScale) => PeerAccounts.SettlementAccount(assetCode, assetScale);

    private async Task LoopAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(_options.PollInterval, _time);
        try
        {
            do
            {
                try
                {
                    await RunOnceAsync(ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is LedgerUnavailableException or InvalidOperationException or Microsoft.Data.Sqlite.SqliteException)
                {
                    LogLoopFailed(e.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null) await _loop.ConfigureAwait(false);
        _stop.Dispose();
        _gate.Dispose();
    }

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Settlement {Id} created: {Amount} to {PeerId} by {Method}")]
    private partial void LogCreated(Guid id, string peerId, ulong amount, string method);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "Settlement {Id} confirmed: {Amount} to {PeerId}, reference {Reference}")]
    private partial void LogConfirmed(Guid id, string peerId, ulong amount, string reference);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "Settlement {Id} to {PeerId}, attempt {Attempt} failed: {Reason}; {Next}")]
    private partial void LogAttemptFailed(Guid id, string peerId, int attempt, string reason, string next);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Warning, Message = "Settlement pass failed: {Reason}")]
    private partial void LogLoopFailed(string reason);
}
