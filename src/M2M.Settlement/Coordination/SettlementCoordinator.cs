using M2M.Core.Diagnostics;
using M2M.Core.Ledger;
using Microsoft.Extensions.Logging;

namespace M2M.Settlement.Coordination;

/// <summary>Settlement outcomes, for metrics.</summary>
public interface ISettlementObserver
{
    void Executed(SettlementRecord settlement, bool success, TimeSpan latency);

    /// <summary>A settlement record was created (automatically over the threshold or by request); it is paid next.</summary>
    void Requested(SettlementRecord settlement)
    {
    }
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
    /// <summary>
    /// How long a node keeps a settlement to itself without renewing (PostgreSQL: several nodes share the
    /// records). Longer than one payment attempt (the engine HTTP timeout is 30 s), so a live node is never
    /// overtaken; a dead node's settlement is resumed by another node after this long, with the same id.
    /// </summary>
    public TimeSpan LeaseTime { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>This node's name in leases (node id plus a per-process suffix).</summary>
    public string Holder { get; init; } = $"{Environment.MachineName}/{Guid.NewGuid():N}";
    /// <summary>
    /// Timeout of the pending debit that reserves a settlement before it is paid: far beyond the retry
    /// horizon (20 attempts with backoff up to an hour), so the sweeper never voids a live reservation.
    /// </summary>
    public TimeSpan ReservationTimeout { get; init; } = TimeSpan.FromDays(30);
}

/// <summary>A request the coordinator refuses (unknown peer, bad amount…): answered 400 with the message.</summary>
public sealed class SettlementRequestException(string message) : Exception(message);

/// <summary>
/// Creates settlements when a peer's posted balance (what we owe it) reaches its threshold, or
/// on request, and drives each through pending → submitted → confirmed | failed. Exactly once,
/// also with several nodes on one PostgreSQL ledger:
/// 1. the record is created under the store's per-peer lock, which covers the open check, the
///    minimum interval and the balance read (<see cref="ISettlementStore.CreateAsync"/>); on SQLite the
///    record and the reservation of step 2 are one commit of the ledger's writer (an outbox);
/// 2. the node holding the record's lease reserves the amount with a pending ledger debit whose
///    id derives from the settlement id, before paying (RELIABILITY.md rule 5): while the record is
///    open no other settlement of the peer can start, and a crash after paying leaves the debit
///    reserved, never an obligation that looks unpaid;
/// 3. it pays with the settlement id as idempotency key, posts the reservation, confirms.
/// A node that dies anywhere leaves an open record whose lease expires; another node resumes it with
/// the same ids, so the ledger applies each step once and the engine or channel answers the
/// resend without paying twice. A settlement given up after MaxAttempts voids its reservation.
/// </summary>
public sealed partial class SettlementCoordinator : IAsyncDisposable
{
    private readonly ISettlementStore _store;
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

    public SettlementCoordinator(ISettlementStore store, ILedger ledger, IEnumerable<ISettlementMethod> methods, IEnumerable<PeerSettlementPolicy> policies,
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

    public ISettlementStore Store => _store;

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

    /// <summary>Settles a peer now (POST /settlement/execute). Amount defaults to balance − settleTo; an open settlement is returned instead.</summary>
    public async Task<SettlementRecord> RequestAsync(string peerId, ulong? amount, string? method, CancellationToken ct)
    {
        if (!_policies.TryGetValue(peerId, out var policy)) throw new SettlementRequestException($"peer '{peerId}' has no settlement configured (peers[].settlement)");
        string chosen = method ?? policy.Method;
        if (!_methods.ContainsKey(chosen))
            throw new SettlementRequestException($"method '{chosen}' is not available; available: {(_methods.Count == 0 ? "none" : string.Join(", ", _methods.Keys))}");
        var (outcome, record) = await _store.CreateAsync(peerId, _time.GetUtcNow(), TimeSpan.Zero, async token =>
        {
            var balance = await OwedAsync(policy, token).ConfigureAwait(false);
            ulong settle = amount ?? (balance > policy.SettleTo ? balance - policy.SettleTo : 0);
            if (settle == 0) throw new SettlementRequestException($"nothing to settle: we owe '{peerId}' {balance} (settleTo {policy.SettleTo})");
            if (settle > balance) throw new SettlementRequestException($"amount {settle} is more than the {balance} we owe '{peerId}'");
            return NewRecord(policy, chosen, settle);
        }, r => Reservation(r, policy), ct).ConfigureAwait(false);
        if (outcome == CreateOutcome.Created)
        {
            CrashPoint.Hit("settlement-created");
            _observer?.Requested(record!);
        }
        return record!;
    }

    /// <summary>One pass: open settlements for peers over their threshold, then work every due record whose lease this node gets.</summary>
    public async Task RunOnceAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            foreach (var policy in _policies.Values)
            {
                if (!_methods.ContainsKey(policy.Method)) continue;
                // Cheap unlocked look first; the decision is taken again under the store's per-peer lock.
                if (!OverThreshold(policy, await OwedAsync(policy, ct).ConfigureAwait(false))) continue;
                var (outcome, created) = await _store.CreateAsync(policy.PeerId, _time.GetUtcNow(), policy.MinInterval, async token =>
                {
                    ulong owed = await OwedAsync(policy, token).ConfigureAwait(false);
                    return OverThreshold(policy, owed) ? NewRecord(policy, policy.Method, owed - policy.SettleTo) : null;
                }, r => Reservation(r, policy), ct).ConfigureAwait(false);
                if (outcome == CreateOutcome.Created && created is not null)
                {
                    CrashPoint.Hit("settlement-created"); // the intent (and on SQLite its reservation) committed, nothing paid yet
                    _observer?.Requested(created);
                }
            }
            var now = _time.GetUtcNow();
            foreach (var listed in _store.List(SettlementState.Pending).Concat(_store.List(SettlementState.Submitted)))
            {
                if (listed.State != SettlementState.Submitted && listed.NextAttemptAt > now) continue;
                if (!_methods.ContainsKey(listed.Method) || !_policies.ContainsKey(listed.PeerId)) continue;
                if (!await _store.TryLeaseAsync(listed.Id, _options.Holder, _options.LeaseTime, ct).ConfigureAwait(false)) continue;
                // Re-read under the lease: another node may have moved it on since the listing.
                if (_store.Get(listed.Id) is { IsOpen: true } record) await ExecuteAsync(record, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private static bool OverThreshold(PeerSettlementPolicy policy, ulong owed) => owed >= policy.Threshold && owed > policy.SettleTo;

    private SettlementRecord NewRecord(PeerSettlementPolicy policy, string method, ulong amount)
    {
        var now = _time.GetUtcNow();
        var record = new SettlementRecord
        {
            Id = Guid.NewGuid(), PeerId = policy.PeerId, Method = method, Amount = amount, Token = policy.Token,
            State = SettlementState.Pending, CreatedAt = now, UpdatedAt = now, NextAttemptAt = now,
        };
        LogCreated(record.Id, record.PeerId, record.Amount, record.Method);
        return record;
    }

    private async Task ExecuteAsync(SettlementRecord record, CancellationToken ct)
    {
        var policy = _policies[record.PeerId];
        var submitted = record with { State = SettlementState.Submitted, Attempts = record.Attempts + 1, UpdatedAt = _time.GetUtcNow() };
        long started = _time.GetTimestamp();
        try
        {
            await ReserveAsync(record, policy, ct).ConfigureAwait(false);
            CrashPoint.Hit("settlement-reserved-before-pay");
            _store.Update(submitted);
            var receipt = await PayUnderLeaseAsync(submitted, ct).ConfigureAwait(false);
            CrashPoint.Hit("settlement-paid-before-post");
            await PostReservationAsync(submitted, policy, ct).ConfigureAwait(false);
            _store.Update(submitted with { State = SettlementState.Confirmed, Reference = receipt.Reference, LastError = null, UpdatedAt = _time.GetUtcNow() });
            _observer?.Executed(submitted, success: true, _time.GetElapsedTime(started));
            LogConfirmed(record.Id, record.PeerId, record.Amount, receipt.Reference);
        }
        catch (Exception e) when (e is SettlementFailedException or LedgerUnavailableException or HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            bool final = submitted.Attempts >= _options.MaxAttempts;
            var delay = RetryDelay(submitted.Attempts);
            if (final) await VoidReservationAsync(submitted, ct).ConfigureAwait(false);
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

    /// <summary>Pays, renewing the lease every third of its length meanwhile, so a slow engine or chain never lets another node overtake a live one.</summary>
    private async Task<SettlementReceipt> PayUnderLeaseAsync(SettlementRecord record, CancellationToken ct)
    {
        using var paying = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var renewal = RenewLeaseAsync(record.Id, paying.Token);
        try
        {
            return await _methods[record.Method].SettleAsync(record, ct).ConfigureAwait(false);
        }
        finally
        {
            await paying.CancelAsync().ConfigureAwait(false);
            await renewal.ConfigureAwait(false);
        }
    }

    private async Task RenewLeaseAsync(Guid id, CancellationToken ct)
    {
        var every = _options.LeaseTime / 3;
        try
        {
            while (true)
            {
                await Task.Delay(every, _time, ct).ConfigureAwait(false);
                try
                {
                    await _store.TryLeaseAsync(id, _options.Holder, _options.LeaseTime, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogLoopFailed($"renewing the lease of settlement {id}: {e.Message}");
                }
            }
        }
        catch (OperationCanceledException)
        {
            // paid (or failed): the lease is no longer needed
        }
    }

    private TimeSpan RetryDelay(int attempts)
    {
        double factor = Math.Pow(2, Math.Min(attempts - 1, 30));
        var delay = TimeSpan.FromTicks((long)Math.Min(_options.BaseRetryDelay.Ticks * factor, _options.MaxRetryDelay.Ticks));
        return delay;
    }

    /// <summary>
    /// Reserves the settlement: a pending debit of the peer's account by the amount, id and timeout derived
    /// from the settlement, so every attempt and every node writes the same transfer (Exists after the first).
    /// </summary>
    private async Task ReserveAsync(SettlementRecord record, PeerSettlementPolicy policy, CancellationToken ct)
    {
        var result = (await _ledger.CreateTransfersAsync([Reservation(record, policy)], ct).ConfigureAwait(false))[0];
        if (!result.IsApplied()) throw new SettlementFailedException($"the ledger refused to reserve the settlement before paying: {result}");
    }

    /// <summary>
    /// The pending debit that reserves a settlement's amount. A store in the SQLite ledger's file commits it with the
    /// record (one commit: the outbox); <see cref="ReserveAsync"/> then finds it (Exists) before paying.
    /// </summary>
    private Transfer Reservation(SettlementRecord record, PeerSettlementPolicy policy)
    {
        uint ledger = PeerAccounts.LedgerFor(policy.AssetCode, policy.AssetScale);
        return new Transfer
        {
            Id = TransferIds.SettlementReserve(record.Id),
            DebitAccountId = PeerAccounts.PeerAccountId(policy.PeerId, ledger),
            CreditAccountId = SettlementAccount(policy.AssetCode, policy.AssetScale).Id,
            Amount = record.Amount,
            Ledger = ledger,
            Code = TransferIds.SettlementCode,
            Flags = TransferFlags.Pending,
            TimeoutAt = record.CreatedAt + _options.ReservationTimeout,
        };
    }

    /// <summary>Posts the reservation once paid. Should it have expired or been voided meanwhile, the debit is booked directly under the same id.</summary>
    private async Task PostReservationAsync(SettlementRecord record, PeerSettlementPolicy policy, CancellationToken ct)
    {
        var post = new Transfer { Id = TransferIds.SettlementPost(record.Id), PendingId = TransferIds.SettlementReserve(record.Id), Flags = TransferFlags.PostPending, Code = TransferIds.SettlementCode };
        var result = (await _ledger.CreateTransfersAsync([post], ct).ConfigureAwait(false))[0];
        if (result is CreateTransferResult.PendingTransferExpired or CreateTransferResult.PendingTransferAlreadyVoided)
        {
            uint ledger = PeerAccounts.LedgerFor(policy.AssetCode, policy.AssetScale);
            var direct = new Transfer
            {
                Id = post.Id, DebitAccountId = PeerAccounts.PeerAccountId(policy.PeerId, ledger), CreditAccountId = SettlementAccount(policy.AssetCode, policy.AssetScale).Id,
                Amount = record.Amount, Ledger = ledger, Code = TransferIds.SettlementCode,
            };
            result = (await _ledger.CreateTransfersAsync([direct], ct).ConfigureAwait(false))[0];
        }
        if (!result.IsApplied()) throw new SettlementFailedException($"paid, but the ledger refused the settlement transfer: {result}");
    }

    /// <summary>Releases the reservation of a settlement that is given up (its obligation is owed again).</summary>
    private async Task VoidReservationAsync(SettlementRecord record, CancellationToken ct)
    {
        var voids = new Transfer { Id = TransferIds.SettlementVoid(record.Id), PendingId = TransferIds.SettlementReserve(record.Id), Flags = TransferFlags.VoidPending, Code = TransferIds.SettlementCode };
        try
        {
            var result = (await _ledger.CreateTransfersAsync([voids], ct).ConfigureAwait(false))[0];
            if (!result.IsApplied() && result is not (CreateTransferResult.PendingTransferNotFound or CreateTransferResult.PendingTransferExpired or CreateTransferResult.PendingTransferAlreadyVoided))
                LogLoopFailed($"voiding the reservation of settlement {record.Id}: {result}");
        }
        catch (LedgerUnavailableException e)
        {
            // The sweeper voids it at its timeout.
            LogLoopFailed($"voiding the reservation of settlement {record.Id}: {e.Message}");
        }
    }

    private async Task<ulong> OwedAsync(PeerSettlementPolicy policy, CancellationToken ct)
    {
        var account = await _ledger.LookupAccountAsync(PeerAccounts.PeerAccountId(policy.PeerId, PeerAccounts.LedgerFor(policy.AssetCode, policy.AssetScale)), ct).ConfigureAwait(false);
        if (account is null || account.PostedBalance <= 0) return 0;
        return account.PostedBalance > ulong.MaxValue ? ulong.MaxValue : (ulong)account.PostedBalance;
    }

    public const ushort SettlementTransferCode = TransferIds.SettlementCode;

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
                catch (Exception e) when (e is LedgerUnavailableException or InvalidOperationException or Microsoft.Data.Sqlite.SqliteException or Npgsql.NpgsqlException or TimeoutException)
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
