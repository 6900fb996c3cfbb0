using M2M.Core.Ledger;
using M2M.TestKit;

namespace M2M.Ledger.Tests;

/// <summary>
/// The behaviour every ledger backend must have. A backend's test class derives from this and
/// says how to open a fresh ledger and how to reopen it (for durable backends).
/// </summary>
public abstract class LedgerContractTests : IAsyncLifetime
{
    protected const uint Usd = 1;
    protected static readonly DateTimeOffset Later = DateTimeOffset.UtcNow.AddMinutes(10);
    private long _nextId = 1000;

    protected ILedger Ledger { get; set; } = null!;

    /// <summary>A new, empty ledger.</summary>
    protected abstract Task<ILedger> OpenAsync();

    /// <summary>Closes and reopens the same store; the memory model returns the same instance.</summary>
    protected virtual Task<ILedger> ReopenAsync(ILedger ledger) => Task.FromResult(ledger);

    public async Task InitializeAsync() => Ledger = await OpenAsync();

    public async Task DisposeAsync() => await Ledger.DisposeAsync();

    protected UInt128 NewId() => (UInt128)Interlocked.Increment(ref _nextId);

    protected async Task<UInt128> Account(ulong? limit = null, uint ledger = Usd)
    {
        var id = NewId();
        var a = new Account
        {
            Id = id,
            Ledger = ledger,
            Code = 1,
            Flags = limit is null ? AccountFlags.None : AccountFlags.DebitsMustNotExceedCredits,
            DebitLimit = limit ?? 0,
            Name = $"acct-{id}",
        };
        Assert.Equal(CreateAccountResult.Ok, (await Ledger.CreateAccountsAsync([a]))[0]);
        return id;
    }

    protected async Task<CreateTransferResult> One(Transfer t) => (await Ledger.CreateTransfersAsync([t]))[0];

    protected Transfer Pending(UInt128 debit, UInt128 credit, ulong amount, DateTimeOffset? timeout = null, TransferFlags extra = TransferFlags.None) => new()
    {
        Id = NewId(),
        DebitAccountId = debit,
        CreditAccountId = credit,
        Amount = amount,
        Ledger = Usd,
        Code = 1,
        Flags = TransferFlags.Pending | extra,
        TimeoutAt = timeout ?? Later,
    };

    protected Transfer Post(UInt128 pendingId, TransferFlags extra = TransferFlags.None) => new() { Id = NewId(), PendingId = pendingId, Flags = TransferFlags.PostPending | extra };

    protected Transfer Void(UInt128 pendingId) => new() { Id = NewId(), PendingId = pendingId, Flags = TransferFlags.VoidPending };

    protected async Task<Account> Get(UInt128 id) => (await Ledger.LookupAccountAsync(id))!;

    protected async Task AssertConsistent()
    {
        await Books.AssertConsistentAsync(Ledger);
    }

    [Fact]
    public async Task Accounts_are_created_once_and_idempotently()
    {
        var a = new Account { Id = NewId(), Ledger = Usd, Code = 7, Name = "peer:x" };
        Assert.Equal(CreateAccountResult.Ok, (await Ledger.CreateAccountsAsync([a]))[0]);
        Assert.Equal(CreateAccountResult.Exists, (await Ledger.CreateAccountsAsync([a]))[0]);
        Assert.Equal(CreateAccountResult.ExistsWithDifferentFields, (await Ledger.CreateAccountsAsync([a with { Code = 8 }]))[0]);
        Assert.Equal(CreateAccountResult.LedgerMustNotBeZero, (await Ledger.CreateAccountsAsync([a with { Id = NewId(), Ledger = 0 }]))[0]);
        var stored = await Get(a.Id);
        Assert.Equal(("peer:x", (ushort)7, UInt128.Zero), (stored.Name, stored.Code, stored.CreditsPosted));
    }

    [Fact]
    public async Task Pending_then_post_moves_the_amount_from_pending_to_posted()
    {
        UInt128 a = await Account(), b = await Account();
        var p = Pending(a, b, 250);
        Assert.Equal(CreateTransferResult.Ok, await One(p));
        Assert.Equal((UInt128)250, (await Get(a)).DebitsPending);
        Assert.Equal((UInt128)250, (await Get(b)).CreditsPending);

        Assert.Equal(CreateTransferResult.Ok, await One(Post(p.Id)));

        var (da, cb) = (await Get(a), await Get(b));
        Assert.Equal(((UInt128)0, (UInt128)250), (da.DebitsPending, da.DebitsPosted));
        Assert.Equal(((UInt128)0, (UInt128)250), (cb.CreditsPending, cb.CreditsPosted));
        await AssertConsistent();
    }

    [Fact]
    public async Task Void_releases_the_pending_amount()
    {
        UInt128 a = await Account(), b = await Account();
        var p = Pending(a, b, 99);
        await One(p);
        Assert.Equal(CreateTransferResult.Ok, await One(Void(p.Id)));
        var da = await Get(a);
        Assert.Equal((UInt128.Zero, UInt128.Zero), (da.DebitsPending, da.DebitsPosted));
        await AssertConsistent();
    }

    [Fact]
    public async Task Same_id_twice_is_applied_once_and_reports_exists()
    {
        UInt128 a = await Account(), b = await Account();
        var t = new Transfer { Id = NewId(), DebitAccountId = a, CreditAccountId = b, Amount = 10, Ledger = Usd, Code = 1 };
        Assert.Equal(CreateTransferResult.Ok, await One(t));
        Assert.Equal(CreateTransferResult.Exists, await One(t));
        Assert.Equal(CreateTransferResult.ExistsWithDifferentFields, await One(t with { Amount = 11 }));
        Assert.Equal((UInt128)10, (await Get(a)).DebitsPosted);

        var p = Pending(a, b, 5);
        await One(p);
        var post = Post(p.Id);
        Assert.Equal(CreateTransferResult.Ok, await One(post));
        Assert.Equal(CreateTransferResult.Exists, await One(post));
        Assert.Equal((UInt128)15, (await Get(b)).CreditsPosted);
    }

    /// <summary>True for the reference model itself: comparing it with itself would prove nothing.</summary>
    protected virtual bool IsReferenceModel => false;

    [SkippableFact]
    public async Task Duplicate_ids_in_a_later_call_in_the_same_call_and_with_different_fields_match_the_reference_model()
    {
        Skip.If(IsReferenceModel, "this backend is the reference model: nothing to compare it with");
        // The SQLite writer assumes new ids are absent and verifies that assumption (UNIQUE
        // constraint or a lookup) before COMMIT, redoing the batch when it was wrong; every
        // kind of duplicate below must answer exactly as the memory model does.
        await using var model = new MemoryLedger();
        var accounts = new List<Account>();
        for (int i = 0; i < 2; i++)
        {
            var acct = new Account { Id = NewId(), Ledger = Usd, Code = 1, Flags = AccountFlags.DebitsMustNotExceedCredits, DebitLimit = 100, Name = $"dup-{i}" };
            Assert.Equal((await model.CreateAccountsAsync([acct]))[0], (await Ledger.CreateAccountsAsync([acct]))[0]);
            accounts.Add(acct);
        }
        UInt128 a = accounts[0].Id, b = accounts[1].Id;
        var plain = new Transfer { Id = NewId(), DebitAccountId = a, CreditAccountId = b, Amount = 60, Ledger = Usd, Code = 1 };
        var pending = Pending(a, b, 30);
        var voided = Pending(a, b, 5);
        var post = Post(pending.Id);
        var voiding = Void(voided.Id);
        var fresh = new Transfer { Id = NewId(), DebitAccountId = b, CreditAccountId = a, Amount = 1, Ledger = Usd, Code = 1 };
        var freshPending = Pending(b, a, 2);
        var twice = fresh with { Id = NewId() };
        var calls = new List<Transfer[]>
        {
            new[] { plain, pending, voided },
            new[] { post, voiding },
            // Later calls: each old id again (plain, closed pending, post, void), one with
            // different fields, and a plain retry that would now exceed the debit limit (so it is
            // not re-inserted and the assumption is checked by lookup, not by the constraint).
            new[] { plain },
            new[] { plain with { Amount = 61 } },
            new[] { pending },
            new[] { post },
            new[] { post with { PendingId = voided.Id } },
            new[] { voiding },
            new[] { voided with { Amount = 6 } },
            // Mixed with new transfers in one call: the new ones must apply exactly once.
            new[] { fresh, plain, freshPending },
            // Within one call: a new id twice, then again with different fields.
            new[] { twice, twice, twice with { Amount = 2 } },
            // A linked chain whose first member is an old id: the chain fails as the model says.
            new[] { plain with { Flags = TransferFlags.Linked }, new Transfer { Id = NewId(), DebitAccountId = b, CreditAccountId = a, Amount = 1, Ledger = Usd, Code = 1 } },
            new[] { Post(freshPending.Id), Post(freshPending.Id) },
        };
        foreach (var call in calls)
        {
            var expected = await model.CreateTransfersAsync(call);
            var actual = await Ledger.CreateTransfersAsync(call);
            Assert.Equal(expected, actual);
        }
        foreach (var id in new[] { a, b })
        {
            var (m, l) = ((await model.LookupAccountAsync(id))!, await Get(id));
            Assert.Equal((m.DebitsPending, m.DebitsPosted, m.CreditsPending, m.CreditsPosted), (l.DebitsPending, l.DebitsPosted, l.CreditsPending, l.CreditsPosted));
        }
        Assert.Equal((UInt128)90, (await Get(a)).DebitsPosted); // plain 60 + posted 30, each once
        await AssertConsistent();
    }

    [Fact]
    public async Task Concurrent_calls_mixing_new_and_old_ids_apply_each_new_transfer_exactly_once()
    {
        UInt128 a = await Account(), b = await Account();
        var old = Enumerable.Range(0, 20).Select(_ => new Transfer { Id = NewId(), DebitAccountId = a, CreditAccountId = b, Amount = 1, Ledger = Usd, Code = 1 }).ToList();
        Assert.All(await Ledger.CreateTransfersAsync(old), r => Assert.Equal(CreateTransferResult.Ok, r));

        // New and old ids at once: group commit puts them in shared batches, so batches holding
        // an old id are redone on the lookup path together with the new transfers beside them.
        var fresh = Enumerable.Range(0, 200).Select(_ => new Transfer { Id = NewId(), DebitAccountId = a, CreditAccountId = b, Amount = 1, Ledger = Usd, Code = 1 }).ToList();
        var calls = fresh.Select((t, i) => i % 10 == 0 ? (Transfer[])[old[i / 10]] : [t]).ToList();
        var results = await Task.WhenAll(calls.Select(c => Ledger.CreateTransfersAsync(c).AsTask()));

        for (int i = 0; i < calls.Count; i++)
        {
            Assert.Equal(i % 10 == 0 ? CreateTransferResult.Exists : CreateTransferResult.Ok, results[i][0]);
        }
        Assert.Equal((UInt128)(20 + 180), (await Get(a)).DebitsPosted);
        Assert.Equal((UInt128)(20 + 180), (await Get(b)).CreditsPosted);
        await AssertConsistent();
    }

    [Fact]
    public async Task Posting_or_voiding_twice_is_a_clear_error_not_a_double_post()
    {
        UInt128 a = await Account(), b = await Account();
        var p = Pending(a, b, 40);
        await One(p);
        await One(Post(p.Id));

        Assert.Equal(CreateTransferResult.PendingTransferAlreadyPosted, await One(Post(p.Id)));
        Assert.Equal(CreateTransferResult.PendingTransferAlreadyPosted, await One(Void(p.Id)));
        var q = Pending(a, b, 1);
        await One(q);
        await One(Void(q.Id));
        Assert.Equal(CreateTransferResult.PendingTransferAlreadyVoided, await One(Post(q.Id)));
        Assert.Equal(CreateTransferResult.PendingTransferNotFound, await One(Post(NewId())));
        Assert.Equal((UInt128)40, (await Get(b)).CreditsPosted);
        await AssertConsistent();
    }

    [Fact]
    public async Task Credit_limit_is_enforced_exactly_at_the_boundary()
    {
        UInt128 peer = await Account(limit: 1000), clearing = await Account();
        var first = Pending(peer, clearing, 600);
        Assert.Equal(CreateTransferResult.Ok, await One(first));
        Assert.Equal(CreateTransferResult.Ok, await One(Pending(peer, clearing, 400)));
        Assert.Equal(CreateTransferResult.ExceedsCredits, await One(Pending(peer, clearing, 1)));

        await One(Void(first.Id));
        Assert.Equal(CreateTransferResult.Ok, await One(Pending(peer, clearing, 600)));
        Assert.Equal(CreateTransferResult.ExceedsCredits, await One(Pending(peer, clearing, 1)));
        // Credits raise the room: the peer prepaid 5 units.
        await One(new Transfer { Id = NewId(), DebitAccountId = clearing, CreditAccountId = peer, Amount = 5, Ledger = Usd, Code = 1 });
        Assert.Equal(CreateTransferResult.Ok, await One(Pending(peer, clearing, 5)));
        Assert.Equal(CreateTransferResult.ExceedsCredits, await One(Pending(peer, clearing, 1)));
        await AssertConsistent();
    }

    [Fact]
    public async Task A_linked_chain_applies_entirely_or_not_at_all()
    {
        UInt128 a = await Account(limit: 100), b = await Account(), c = await Account();
        var ok = Pending(a, b, 50, extra: TransferFlags.Linked);
        var tooMuch = Pending(b, c, 10) with { DebitAccountId = a, Amount = 60 };

        var results = await Ledger.CreateTransfersAsync([ok, tooMuch]);

        Assert.Equal([CreateTransferResult.LinkedEventFailed, CreateTransferResult.ExceedsCredits], results);
        Assert.Equal(UInt128.Zero, (await Get(a)).DebitsPending);
        // The failed chain's ids are free to be used again.
        Assert.Equal(CreateTransferResult.Ok, await One(ok with { Flags = TransferFlags.Pending }));
        var open = await Ledger.CreateTransfersAsync([Pending(a, b, 1, extra: TransferFlags.Linked)]);
        Assert.Equal(CreateTransferResult.LinkedEventChainOpen, open[0]);
    }

    [Fact]
    public async Task Independent_transfers_in_one_batch_succeed_or_fail_on_their_own()
    {
        UInt128 a = await Account(limit: 10), b = await Account();
        var results = await Ledger.CreateTransfersAsync([Pending(a, b, 6), Pending(a, b, 6), Pending(a, b, 4)]);
        Assert.Equal([CreateTransferResult.Ok, CreateTransferResult.ExceedsCredits, CreateTransferResult.Ok], results);
        Assert.Equal((UInt128)10, (await Get(a)).DebitsPending);
    }

    [Fact]
    public async Task Invalid_transfers_are_refused_with_a_reason()
    {
        UInt128 a = await Account(), b = await Account(), other = await Account(ledger: 2);
        Assert.Equal(CreateTransferResult.AccountsMustBeDifferent, await One(Pending(a, a, 1)));
        Assert.Equal(CreateTransferResult.DebitAccountNotFound, await One(Pending(NewId(), b, 1)));
        Assert.Equal(CreateTransferResult.CreditAccountNotFound, await One(Pending(a, NewId(), 1)));
        Assert.Equal(CreateTransferResult.LedgerMustMatch, await One(Pending(a, other, 1)));
        Assert.Equal(CreateTransferResult.AmountMustNotBeZero, await One(Pending(a, b, 0)));
        Assert.Equal(CreateTransferResult.IdMustNotBeZero, await One(Pending(a, b, 1) with { Id = 0 }));
        Assert.Equal(CreateTransferResult.TimeoutRequiredForPending, await One(Pending(a, b, 1) with { TimeoutAt = null }));
        var p = Pending(a, b, 8);
        await One(p);
        Assert.Equal(CreateTransferResult.AmountMustMatchPending, await One(Post(p.Id) with { Amount = 7 }));
        Assert.Equal(CreateTransferResult.Ok, await One(Post(p.Id) with { Amount = 8 }));
    }

    [Fact]
    public async Task Amounts_near_the_top_of_UInt128_overflow_as_a_result_not_a_wrap()
    {
        UInt128 a = await Account(), b = await Account();
        var big = new Transfer { Id = NewId(), DebitAccountId = a, CreditAccountId = b, Amount = UInt128.MaxValue, Ledger = Usd, Code = 1 };
        Assert.Equal(CreateTransferResult.Ok, await One(big));
        Assert.Equal(CreateTransferResult.Overflow, await One(big with { Id = NewId(), Amount = 1 }));
        Assert.Equal(UInt128.MaxValue, (await Get(b)).CreditsPosted);
    }

    [Fact]
    public async Task Expired_pending_transfers_are_voided_by_the_sweeper_and_cannot_be_posted()
    {
        UInt128 a = await Account(limit: 100), b = await Account();
        var soon = Pending(a, b, 70, timeout: DateTimeOffset.UtcNow.AddMilliseconds(200));
        var late = Pending(a, b, 30);
        await Ledger.CreateTransfersAsync([soon, late]);
        await Task.Delay(300);

        Assert.Equal(CreateTransferResult.PendingTransferExpired, await One(Post(soon.Id)));
        Assert.Equal(1, await Ledger.ExpirePendingAsync(DateTimeOffset.UtcNow));
        Assert.Equal(0, await Ledger.ExpirePendingAsync(DateTimeOffset.UtcNow));

        Assert.Equal((UInt128)30, (await Get(a)).DebitsPending);
        Assert.Equal(CreateTransferResult.PendingTransferExpired, await One(Void(soon.Id)));
        Assert.Equal(CreateTransferResult.Ok, await One(Post(late.Id)));
        await AssertConsistent();
    }

    [Fact]
    public async Task Debit_limit_can_be_changed()
    {
        UInt128 a = await Account(limit: 10), b = await Account();
        Assert.Equal(CreateTransferResult.ExceedsCredits, await One(Pending(a, b, 11)));
        Assert.True(await Ledger.SetDebitLimitAsync(a, 20));
        Assert.Equal(CreateTransferResult.Ok, await One(Pending(a, b, 11)));
        Assert.False(await Ledger.SetDebitLimitAsync(NewId(), 5));
    }

    [Fact]
    public async Task A_credit_limit_can_be_added_to_and_removed_from_an_account()
    {
        UInt128 a = await Account(), b = await Account();
        Assert.True(await Ledger.SetDebitLimitAsync(a, 10)); // none → 10: enforced from now on
        Assert.Equal(CreateTransferResult.ExceedsCredits, await One(Pending(a, b, 11)));
        Assert.Equal(CreateTransferResult.Ok, await One(Pending(a, b, 10)));
        Assert.True(await Ledger.SetDebitLimitAsync(a, null)); // 10 → none: no limit at all, not a limit of 0
        Assert.Equal(CreateTransferResult.Ok, await One(Pending(a, b, 1_000_000)));
        var stored = await Get(a);
        Assert.False(stored.Flags.HasFlag(AccountFlags.DebitsMustNotExceedCredits));
        Assert.Equal(UInt128.Zero, stored.DebitLimit);
        await AssertConsistent();
    }

    [Fact]
    public async Task State_survives_a_reopen()
    {
        UInt128 a = await Account(limit: 1000), b = await Account();
        var open = Pending(a, b, 300);
        var posted = Pending(a, b, 200);
        await Ledger.CreateTransfersAsync([open, posted]);
        await One(Post(posted.Id));

        Ledger = await ReopenAsync(Ledger);

        var da = await Get(a);
        Assert.Equal(((UInt128)300, (UInt128)200, (UInt128)1000), (da.DebitsPending, da.DebitsPosted, da.DebitLimit));
        Assert.Equal(CreateTransferResult.PendingTransferAlreadyPosted, await One(Post(posted.Id)));
        Assert.Equal(CreateTransferResult.Ok, await One(Post(open.Id)));
        Assert.Equal(CreateTransferResult.Exists, await One(open));
        await AssertConsistent();
    }

    [Fact]
    public async Task Concurrent_writers_never_overdraw_and_balances_add_up()
    {
        const ulong limit = 1_000;
        UInt128 peer = await Account(limit: limit), clearing = await Account();
        long accepted = 0, posted = 0;
        var random = new Random(4);
        var amounts = Enumerable.Range(0, 16).Select(_ => Enumerable.Range(0, 150).Select(_ => (ulong)random.Next(1, 51)).ToArray()).ToArray();

        await Task.WhenAll(amounts.Select(list => Task.Run(async () =>
        {
            foreach (var amount in list)
            {
                var p = Pending(peer, clearing, amount);
                if (await One(p) != CreateTransferResult.Ok) continue;
                Interlocked.Increment(ref accepted);
                var peerNow = await Get(peer);
                Assert.True(peerNow.DebitsPending + peerNow.DebitsPosted <= limit + peerNow.CreditsPosted);
                if (amount % 2 == 0)
                {
                    Assert.Equal(CreateTransferResult.Ok, await One(Post(p.Id)));
                    Interlocked.Add(ref posted, (long)amount);
                }
                else
                {
                    Assert.Equal(CreateTransferResult.Ok, await One(Void(p.Id)));
                }
            }
        })));

        var final = await Get(peer);
        Assert.Equal((UInt128)(ulong)posted, final.DebitsPosted);
        Assert.Equal(UInt128.Zero, final.DebitsPending);
        Assert.True(final.DebitsPosted <= limit);
        Assert.True(accepted > 0);
        await AssertConsistent();
    }

    [SkippableFact]
    public async Task Random_operations_match_the_reference_model()
    {
        Skip.If(IsReferenceModel, "this backend is the reference model: nothing to compare it with");
        await using var model = new MemoryLedger();
        var random = new Random(38);
        var accounts = new List<UInt128>();
        for (int i = 0; i < 5; i++)
        {
            var a = new Account { Id = NewId(), Ledger = Usd, Code = 1, Flags = i % 2 == 0 ? AccountFlags.DebitsMustNotExceedCredits : AccountFlags.None, DebitLimit = (UInt128)(ulong)random.Next(0, 500) };
            Assert.Equal((await model.CreateAccountsAsync([a]))[0], (await Ledger.CreateAccountsAsync([a]))[0]);
            accounts.Add(a.Id);
        }
        var pendings = new List<UInt128>();
        for (int step = 0; step < 400; step++)
        {
            var batch = new List<Transfer>();
            int size = random.Next(1, 6);
            for (int k = 0; k < size; k++) batch.Add(RandomTransfer(random, accounts, pendings));
            var expected = await model.CreateTransfersAsync(batch);
            var actual = await Ledger.CreateTransfersAsync(batch);
            Assert.Equal(expected, actual);
            pendings.AddRange(batch.Where((t, i) => t.Flags.HasFlag(TransferFlags.Pending) && actual[i] == CreateTransferResult.Ok).Select(t => t.Id));
        }
        foreach (var id in accounts)
        {
            var (m, l) = ((await model.LookupAccountAsync(id))!, await Get(id));
            Assert.Equal((m.DebitsPending, m.DebitsPosted, m.CreditsPending, m.CreditsPosted), (l.DebitsPending, l.DebitsPosted, l.CreditsPending, l.CreditsPosted));
        }
        await AssertConsistent();
    }

    private Transfer RandomTransfer(Random r, List<UInt128> accounts, List<UInt128> pendings)
    {
        var linked = r.Next(6) == 0 ? TransferFlags.Linked : TransferFlags.None;
        UInt128 debit = accounts[r.Next(accounts.Count)], credit = accounts[r.Next(accounts.Count)];
        return r.Next(4) switch
        {
            0 when pendings.Count > 0 => Post(pendings[r.Next(pendings.Count)], linked),
            1 when pendings.Count > 0 => Void(pendings[r.Next(pendings.Count)]) with { Flags = TransferFlags.VoidPending | linked },
            2 => new Transfer { Id = NewId(), DebitAccountId = debit, CreditAccountId = credit, Amount = (ulong)r.Next(0, 200), Ledger = Usd, Code = 1, Flags = linked },
            _ => Pending(debit, credit, (ulong)r.Next(0, 200), extra: linked),
        };
    }
}

/// <summary>
/// The reference model's own contract: the fixed-expectation tests run on it; the two that compare a
/// backend with the model are reported as skipped here (they run on SQLite and PostgreSQL).
/// </summary>
[Trait("Tier", "unit")]
public sealed class MemoryLedgerContractTests : LedgerContractTests
{
    protected override bool IsReferenceModel => true;

    protected override Task<ILedger> OpenAsync() => Task.FromResult<ILedger>(new MemoryLedger());
}
