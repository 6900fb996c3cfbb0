using System.Runtime.CompilerServices;

namespace M2M.Core.Ledger;

/// <summary>
/// The reference ledger: the engine over dictionaries, not durable. The model that the durable
/// backends are tested against, and a ledger for unit tests of the switch.
/// </summary>
public sealed class MemoryLedger(TimeProvider? time = null) : ILedger, ILedgerStateView
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _lock = new();
    private readonly Dictionary<UInt128, Account> _accounts = [];
    private readonly Dictionary<UInt128, Transfer> _transfers = [];
    private readonly List<Transfer> _journal = [];
    private readonly Dictionary<UInt128, PendingState> _states = [];

    public string Backend => "memory";

    public ValueTask<IReadOnlyList<CreateAccountResult>> CreateAccountsAsync(IReadOnlyList<Account> accounts, CancellationToken ct = default)
    {
        lock (_lock)
        {
            var results = accounts.Select(a => AccountRules.Create(a, _accounts, _time.GetUtcNow())).ToList();
            return ValueTask.FromResult<IReadOnlyList<CreateAccountResult>>(results);
        }
    }

    public ValueTask<IReadOnlyList<CreateTransferResult>> CreateTransfersAsync(IReadOnlyList<Transfer> transfers, CancellationToken ct = default)
    {
        lock (_lock)
        {
            var (results, changes) = LedgerEngine.Apply(transfers, this, _time.GetUtcNow());
            Commit(changes);
            return ValueTask.FromResult<IReadOnlyList<CreateTransferResult>>(results);
        }
    }

    public ValueTask<bool> SetDebitLimitAsync(UInt128 id, UInt128? debitLimit, CancellationToken ct = default)
    {
        lock (_lock)
        {
            if (!_accounts.TryGetValue(id, out var a)) return ValueTask.FromResult(false);
            _accounts[id] = AccountRules.WithDebitLimit(a, debitLimit);
            return ValueTask.FromResult(true);
        }
    }

    public ValueTask<Account?> LookupAccountAsync(UInt128 id, CancellationToken ct = default)
    {
        lock (_lock) return ValueTask.FromResult(_accounts.GetValueOrDefault(id));
    }

    public ValueTask<IReadOnlyList<Account>> ListAccountsAsync(CancellationToken ct = default)
    {
        lock (_lock) return ValueTask.FromResult<IReadOnlyList<Account>>(_accounts.Values.OrderBy(a => a.Id).ToList());
    }

    public async IAsyncEnumerable<(Transfer Transfer, PendingState? State)> ReadJournalAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        List<(Transfer, PendingState?)> copy;
        lock (_lock) copy = _journal.Select(t => (t, _states.TryGetValue(t.Id, out var s) ? s : (PendingState?)null)).ToList();
        foreach (var item in copy)
        {
            ct.ThrowIfCancellationRequested();
            yield return item;
        }
        await Task.CompletedTask;
    }

    public ValueTask<int> ExpirePendingAsync(DateTimeOffset now, CancellationToken ct = default)
    {
        lock (_lock)
        {
            var due = _states.Where(s => s.Value == PendingState.Open && _transfers[s.Key].TimeoutAt <= now).Select(s => _transfers[s.Key]).ToList();
            Commit(LedgerEngine.Expire(due, this));
            return ValueTask.FromResult(due.Count);
        }
    }

    public ValueTask PingAsync(CancellationToken ct = default) => ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    Account? ILedgerStateView.GetAccount(UInt128 id) => _accounts.GetValueOrDefault(id);
    Transfer? ILedgerStateView.GetTransfer(UInt128 id) => _transfers.GetValueOrDefault(id);
    PendingState? ILedgerStateView.GetPendingState(UInt128 id) => _states.TryGetValue(id, out var s) ? s : null;

    private void Commit(LedgerChangeSet changes)
    {
        foreach (var (id, a) in changes.Accounts) _accounts[id] = a;
        foreach (var t in changes.Transfers)
        {
            _transfers[t.Id] = t;
            _journal.Add(t);
        }
        foreach (var (id, s) in changes.PendingStates) _states[id] = s;
    }
}

/// <summary>Account creation rules shared by every backend.</summary>
public static class AccountRules
{
    public static CreateAccountResult Validate(Account a) =>
        a.Id == UInt128.Zero ? CreateAccountResult.IdMustNotBeZero
        : a.Ledger == 0 ? CreateAccountResult.LedgerMustNotBeZero
        : CreateAccountResult.Ok;

    /// <summary>Same id with the same definition is Exists (idempotent); balances always start at zero.</summary>
    public static bool SameDefinition(Account a, Account b) =>
        a.Ledger == b.Ledger && a.Code == b.Code && a.Flags == b.Flags && a.DebitLimit == b.DebitLimit;

    /// <summary>A credit limit set (flag on, that limit) or removed (flag off, limit 0): the two always change together.</summary>
    public static Account WithDebitLimit(Account a, UInt128? debitLimit) => debitLimit is { } limit
        ? a with { Flags = a.Flags | AccountFlags.DebitsMustNotExceedCredits, DebitLimit = limit }
        : a with { Flags = a.Flags & ~AccountFlags.DebitsMustNotExceedCredits, DebitLimit = UInt128.Zero };

    public static CreateAccountResult Create(Account a, Dictionary<UInt128, Account> accounts, DateTimeOffset now)
    {
        var valid = Validate(a);
        if (valid != CreateAccountResult.Ok) return valid;
        if (accounts.TryGetValue(a.Id, out var existing))
            return SameDefinition(existing, a) ? CreateAccountResult.Exists : CreateAccountResult.ExistsWithDifferentFields;
        accounts[a.Id] = a with { DebitsPending = 0, DebitsPosted = 0, CreditsPending = 0, CreditsPosted = 0, CreatedAt = now };
        return CreateAccountResult.Ok;
    }
}
