namespace M2M.Core.Ledger;

/// <summary>What the engine reads of the committed state (a backend's cache, its database, or a test model).</summary>
public interface ILedgerStateView
{
    Account? GetAccount(UInt128 id);
    Transfer? GetTransfer(UInt128 id);
    PendingState? GetPendingState(UInt128 pendingId);
}

/// <summary>The effect of a batch: what a backend must write in one transaction.</summary>
public sealed class LedgerChangeSet
{
    public Dictionary<UInt128, Account> Accounts { get; } = [];
    public List<Transfer> Transfers { get; } = [];
    public Dictionary<UInt128, PendingState> PendingStates { get; } = [];
    internal Dictionary<UInt128, Transfer> TransfersById { get; } = [];

    public bool IsEmpty => Transfers.Count == 0 && PendingStates.Count == 0;

    internal void Clear()
    {
        Accounts.Clear();
        Transfers.Clear();
        PendingStates.Clear();
        TransfersById.Clear();
    }
}

/// <summary>
/// Scratch collections for <see cref="LedgerEngine.Apply"/>, reused by a caller that applies one call
/// at a time (a single-owner backend under its lock): the change set returned is valid until the
/// next call with the same workspace. Saves two dictionaries-and-lists sets per call.
/// </summary>
public sealed class LedgerWorkspace
{
    internal LedgerChangeSet Changes { get; } = new();
    internal LedgerEngine.Overlay? Overlay { get; set; }
}

/// <summary>
/// The transfer rules, free of storage: validates and applies a batch of transfers against a
/// state view and returns per-transfer results plus the change set. Linked chains are atomic:
/// a failure discards the chain's changes and marks its other transfers LinkedEventFailed.
/// Arithmetic is checked; an overflow is a result, never a wrapped balance.
/// </summary>
public static class LedgerEngine
{
    public static (CreateTransferResult[] Results, LedgerChangeSet Changes) Apply(
        IReadOnlyList<Transfer> batch, ILedgerStateView committed, DateTimeOffset now, LedgerWorkspace? workspace = null)
    {
        var results = new CreateTransferResult[batch.Count];
        LedgerChangeSet changes;
        Overlay chain;
        if (workspace is null)
        {
            changes = new LedgerChangeSet();
            chain = new Overlay(committed, changes);
        }
        else
        {
            changes = workspace.Changes;
            changes.Clear();
            chain = workspace.Overlay ??= new Overlay(committed, changes);
            Invariant.Check(chain.Reads(committed, changes), "a workspace serves one state view");
            chain.Clear();
        }
        int chainStart = 0;
        for (int i = 0; i < batch.Count; i++)
        {
            var t = batch[i] with { CreatedAt = now };
            bool linked = Has(t.Flags, TransferFlags.Linked);
            var result = linked && i == batch.Count - 1 ? CreateTransferResult.LinkedEventChainOpen : ApplyOne(t, chain, now);
            results[i] = result;
            bool chainEnds = !linked || i == batch.Count - 1;
            if (!result.IsApplied())
            {
                // Fail the whole chain: earlier members failed-linked, later members too.
                for (int j = chainStart; j < i; j++) results[j] = CreateTransferResult.LinkedEventFailed;
                while (!chainEnds)
                {
                    i++;
                    results[i] = CreateTransferResult.LinkedEventFailed;
                    chainEnds = !Has(batch[i].Flags, TransferFlags.Linked) || i == batch.Count - 1;
                }
                chain.Clear(); // one overlay per call, cleared between chains
                chainStart = i + 1;
                continue;
            }
            if (chainEnds)
            {
                chain.CommitInto(changes);
                chain.Clear();
                chainStart = i + 1;
            }
        }
        return (results, changes);
    }

    /// <summary>Voids (as Expired) every given open pending transfer; used by the sweeper.</summary>
    public static LedgerChangeSet Expire(IEnumerable<Transfer> expiredPendings, ILedgerStateView committed)
    {
        var changes = new LedgerChangeSet();
        var overlay = new Overlay(committed, changes);
        foreach (var p in expiredPendings)
        {
            if (overlay.GetPendingState(p.Id) != PendingState.Open) continue;
            if (Release(p, overlay, post: false) == CreateTransferResult.Ok) overlay.SetPendingState(p.Id, PendingState.Expired);
        }
        overlay.CommitInto(changes);
        return changes;
    }

    private static CreateTransferResult ApplyOne(Transfer t, Overlay s, DateTimeOffset now)
    {
        if (t.Id == UInt128.Zero) return CreateTransferResult.IdMustNotBeZero;
        var existing = s.GetTransfer(t.Id);
        if (existing is not null) return SameFields(existing, t) ? CreateTransferResult.Exists : CreateTransferResult.ExistsWithDifferentFields;
        bool post = Has(t.Flags, TransferFlags.PostPending), voids = Has(t.Flags, TransferFlags.VoidPending), pending = Has(t.Flags, TransferFlags.Pending);
        if ((post ? 1 : 0) + (voids ? 1 : 0) + (pending ? 1 : 0) > 1) return CreateTransferResult.FlagsAreMutuallyExclusive;
        return post || voids ? Resolve(t, s, now, post) : Create(t, s, pending);
    }

    private static CreateTransferResult Create(Transfer t, Overlay s, bool pending)
    {
        if (t.DebitAccountId == t.CreditAccountId) return CreateTransferResult.AccountsMustBeDifferent;
        if (t.Amount == UInt128.Zero) return CreateTransferResult.AmountMustNotBeZero;
        if (pending && t.TimeoutAt is null) return CreateTransferResult.TimeoutRequiredForPending;
        var debit = s.GetAccount(t.DebitAccountId);
        if (debit is null) return CreateTransferResult.DebitAccountNotFound;
        var credit = s.GetAccount(t.CreditAccountId);
        if (credit is null) return CreateTransferResult.CreditAccountNotFound;
        if (debit.Ledger != t.Ledger || credit.Ledger != t.Ledger) return CreateTransferResult.LedgerMustMatch;
        if (!TryAdd(debit.DebitsPending, debit.DebitsPosted, t.Amount, out var debitTotal)
            || !TryAdd(credit.CreditsPending, credit.CreditsPosted, t.Amount, out var creditTotal))
            return CreateTransferResult.Overflow;
        if ((debit.Flags & AccountFlags.DebitsMustNotExceedCredits) != 0 && !WithinLimit(debitTotal, debit.CreditsPosted, debit.DebitLimit))
            return CreateTransferResult.ExceedsCredits;
        if ((credit.Flags & AccountFlags.CreditsMustNotExceedDebits) != 0 && creditTotal > credit.DebitsPosted)
            return CreateTransferResult.ExceedsDebits;
        s.SetAccount(pending ? debit with { DebitsPending = debit.DebitsPending + t.Amount } : debit with { DebitsPosted = debit.DebitsPosted + t.Amount });
        s.SetAccount(pending ? credit with { CreditsPending = credit.CreditsPending + t.Amount } : credit with { CreditsPosted = credit.CreditsPosted + t.Amount });
        s.AddTransfer(t);
        if (pending) s.SetPendingState(t.Id, PendingState.Open);
        return CreateTransferResult.Ok;
    }

    private static CreateTransferResult Resolve(Transfer t, Overlay s, DateTimeOffset now, bool post)
    {
        var p = s.GetTransfer(t.PendingId);
        if (p is null) return CreateTransferResult.PendingTransferNotFound;
        if (!Has(p.Flags, TransferFlags.Pending)) return CreateTransferResult.PendingTransferNotPending;
        switch (s.GetPendingState(p.Id))
        {
            case PendingState.Posted: return CreateTransferResult.PendingTransferAlreadyPosted;
            case PendingState.Voided: return CreateTransferResult.PendingTransferAlreadyVoided;
            case PendingState.Expired: return CreateTransferResult.PendingTransferExpired;
        }
        if (p.TimeoutAt is { } timeout && timeout <= now) return CreateTransferResult.PendingTransferExpired;
        if (t.Amount != UInt128.Zero && t.Amount != p.Amount) return CreateTransferResult.AmountMustMatchPending;
        var result = Release(p, s, post);
        if (result != CreateTransferResult.Ok) return result;
        s.AddTransfer(t with { DebitAccountId = p.DebitAccountId, CreditAccountId = p.CreditAccountId, Amount = p.Amount, Ledger = p.Ledger, Code = t.Code == 0 ? p.Code : t.Code });
        s.SetPendingState(p.Id, post ? PendingState.Posted : PendingState.Voided);
        return CreateTransferResult.Ok;
    }

    /// <summary>Moves a pending amount out of pending, into posted when <paramref name="post"/>.</summary>
    private static CreateTransferResult Release(Transfer p, Overlay s, bool post)
    {
        var debit = s.GetAccount(p.DebitAccountId)!;
        var credit = s.GetAccount(p.CreditAccountId)!;
        if (debit.DebitsPending < p.Amount || credit.CreditsPending < p.Amount) Invariant.Fail($"pending {p.Id} is larger than its accounts' pending totals");
        s.SetAccount(debit with { DebitsPending = debit.DebitsPending - p.Amount, DebitsPosted = post ? debit.DebitsPosted + p.Amount : debit.DebitsPosted });
        s.SetAccount(credit with { CreditsPending = credit.CreditsPending - p.Amount, CreditsPosted = post ? credit.CreditsPosted + p.Amount : credit.CreditsPosted });
        return CreateTransferResult.Ok;
    }

    /// <summary>A flag test without Enum.HasFlag (boxed in unoptimised tiers).</summary>
    private static bool Has(TransferFlags flags, TransferFlags flag) => (flags & flag) != 0;

    private static bool TryAdd(UInt128 a, UInt128 b, UInt128 c, out UInt128 sum)
    {
        sum = a + b;
        if (sum < a) return false;
        var total = sum + c;
        if (total < sum) return false;
        sum = total;
        return true;
    }

    private static bool WithinLimit(UInt128 debits, UInt128 credits, UInt128 limit)
    {
        var allowed = credits + limit;
        return allowed < credits /* overflow: unlimited */ || debits <= allowed;
    }

    private static bool SameFields(Transfer stored, Transfer t) =>
        (t.Flags & (TransferFlags.PostPending | TransferFlags.VoidPending)) != 0
            ? stored.Flags == t.Flags && stored.PendingId == t.PendingId
            : stored.Flags == t.Flags && stored.DebitAccountId == t.DebitAccountId && stored.CreditAccountId == t.CreditAccountId
              && stored.Amount == t.Amount && stored.Ledger == t.Ledger && stored.Code == t.Code;

    /// <summary>Uncommitted changes of one chain on top of the batch's changes and the committed view.</summary>
    internal sealed class Overlay(ILedgerStateView committed, LedgerChangeSet batch) : ILedgerStateView
    {
        public bool Reads(ILedgerStateView view, LedgerChangeSet target) => ReferenceEquals(view, committed) && ReferenceEquals(target, batch);

        private readonly Dictionary<UInt128, Account> _accounts = [];
        private readonly Dictionary<UInt128, Transfer> _transfers = [];
        private readonly Dictionary<UInt128, PendingState> _states = [];
        private readonly List<Transfer> _order = [];

        public Account? GetAccount(UInt128 id) =>
            _accounts.TryGetValue(id, out var a) ? a : batch.Accounts.TryGetValue(id, out a) ? a : committed.GetAccount(id);

        public Transfer? GetTransfer(UInt128 id) =>
            _transfers.TryGetValue(id, out var t) ? t : (batch.TransfersById.TryGetValue(id, out t) ? t : committed.GetTransfer(id));

        public PendingState? GetPendingState(UInt128 id) =>
            _states.TryGetValue(id, out var s) ? s : batch.PendingStates.TryGetValue(id, out s) ? s : committed.GetPendingState(id);

        public void SetAccount(Account a) => _accounts[a.Id] = a;

        public void AddTransfer(Transfer t)
        {
            _transfers[t.Id] = t;
            _order.Add(t);
        }

        public void SetPendingState(UInt128 id, PendingState state) => _states[id] = state;

        public void Clear()
        {
            _accounts.Clear();
            _transfers.Clear();
            _states.Clear();
            _order.Clear();
        }

        public void CommitInto(LedgerChangeSet target)
        {
            foreach (var (k, v) in _accounts) target.Accounts[k] = v;
            target.Transfers.AddRange(_order);
            foreach (var t in _order) target.TransfersById[t.Id] = t;
            foreach (var (k, v) in _states) target.PendingStates[k] = v;
        }
    }
}
