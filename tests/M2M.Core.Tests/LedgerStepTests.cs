using System.Security.Cryptography;
using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Core.Routing;
using M2M.Core.Switch;
using Microsoft.Extensions.Time.Testing;

namespace M2M.Core.Tests;

/// <summary>
/// LedgerStep alone (unit tier, no I/O): the in-memory reference ledger, a fake clock, and a ledger
/// that fails on command. Checks the ordering rule of a hop (RELIABILITY.md): reserve before
/// forwarding, post before the Fulfill goes upstream, void on a Reject, and T00 whenever the ledger
/// cannot record what happened; the books are audited after every case.
/// </summary>
[Trait("Tier", "unit")]
public class LedgerStepTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 7, 0, 0, TimeSpan.Zero);
    private static readonly PeerDescriptor Alice = new("alice", PeerRelation.Peer, "USD", 9, null);
    private static readonly PeerDescriptor Bob = new("bob", PeerRelation.Peer, "USD", 9, null);
    private static readonly PeerDescriptor Euro = new("eve", PeerRelation.Peer, "EUR", 9, null);
    private static readonly uint Usd = PeerAccounts.LedgerFor("USD", 9);

    private readonly FakeTimeProvider _time = new(Now);
    private readonly SwitchOptions _options = new() { IlpAddress = "g.conn" };
    private readonly FailingLedger _ledger;
    private readonly RecordingObserver _observer = new();

    public LedgerStepTests() => _ledger = new FailingLedger(new MemoryLedger(_time));

    private async Task<LedgerStep> StepAsync(ulong? aliceCreditLimit = 1_000)
    {
        var accounts = new[]
        {
            PeerAccounts.PeerAccount("alice", "USD", 9, aliceCreditLimit),
            PeerAccounts.PeerAccount("bob", "USD", 9, null),
            PeerAccounts.ClearingAccount("USD", 9),
        };
        Assert.All(await _ledger.CreateAccountsAsync(accounts), r => Assert.Equal(CreateAccountResult.Ok, r));
        var peers = new Dictionary<string, PeerDescriptor> { ["alice"] = Alice, ["bob"] = Bob, ["eve"] = Euro };
        return new LedgerStep(_options, _ledger, id => peers.GetValueOrDefault(id), _time, _observer);
    }

    private PacketContext Context(ulong amount, PeerDescriptor? source = null, string nextHop = "bob")
    {
        var prepare = new IlpPrepare
        {
            Amount = amount,
            ExpiresAt = Now.AddSeconds(10),
            ExecutionCondition = SHA256.HashData(RandomNumberGenerator.GetBytes(32)),
            Destination = "g.bob.x",
        };
        return new PacketContext(prepare, source ?? Alice, Now, CancellationToken.None) { NextHop = nextHop, OutgoingExpiresAt = Now.AddSeconds(9) };
    }

    private async Task<(UInt128 Posted, UInt128 Pending)> AliceOwesAsync()
    {
        var a = (await _ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("alice", Usd)))!;
        return (a.DebitsPosted - a.CreditsPosted, a.DebitsPending);
    }

    private async Task AssertBooksConsistentAsync()
    {
        var report = await LedgerVerifier.VerifyAsync(_ledger, _time.GetUtcNow(), TimeSpan.FromMinutes(1));
        Assert.True(report.IsConsistent, string.Join("; ", report.Violations));
    }

    private static PacketHandler Reply(IlpReply reply, Action? during = null) => _ =>
    {
        during?.Invoke();
        return ValueTask.FromResult(reply);
    };

    private static readonly IlpFulfill Fulfill = new() { Fulfillment = new byte[32] };
    private static readonly IlpReject DownstreamReject = IlpRejects.Create(IlpErrorCode.F99_ApplicationError, "g.bob", "no");

    [Fact]
    public async Task A_fulfill_is_passed_upstream_only_after_the_reservation_is_posted()
    {
        var step = await StepAsync();
        (UInt128, UInt128) seenDownstream = default;
        var reply = await step.InvokeAsync(Context(100), async ctx =>
        {
            seenDownstream = await AliceOwesAsync(); // reserved before forwarding
            return Fulfill;
        });

        Assert.Same(Fulfill, reply);
        Assert.Equal(((UInt128)0, (UInt128)100), seenDownstream);
        Assert.Equal(((UInt128)100, (UInt128)0), await AliceOwesAsync());
        Assert.Equal(0, _observer.PostFailures);
        await AssertBooksConsistentAsync();
    }

    [Fact]
    public async Task A_downstream_reject_voids_the_reservation_and_is_passed_on_unchanged()
    {
        var step = await StepAsync();
        var reply = await step.InvokeAsync(Context(100), Reply(DownstreamReject));

        Assert.Same(DownstreamReject, reply);
        Assert.Equal(((UInt128)0, (UInt128)0), await AliceOwesAsync());
        await AssertBooksConsistentAsync();
    }

    [Fact]
    public async Task Past_the_credit_limit_is_T04_and_nothing_is_forwarded()
    {
        var step = await StepAsync(aliceCreditLimit: 50);
        bool forwarded = false;
        var reply = await step.InvokeAsync(Context(51), Reply(Fulfill, () => forwarded = true));

        Assert.Equal(IlpErrorCode.T04_InsufficientLiquidity, Assert.IsType<IlpReject>(reply).Code);
        Assert.Equal("g.conn", ((IlpReject)reply).TriggeredBy);
        Assert.False(forwarded);
        Assert.Equal(((UInt128)0, (UInt128)0), await AliceOwesAsync());
        await AssertBooksConsistentAsync();
    }

    [Fact]
    public async Task A_ledger_down_at_reserve_is_T00_and_nothing_is_forwarded()
    {
        var step = await StepAsync();
        _ledger.Fail = _ => true;
        bool forwarded = false;
        var reply = await step.InvokeAsync(Context(10), Reply(Fulfill, () => forwarded = true));

        Assert.Equal(IlpErrorCode.T00_InternalError, Assert.IsType<IlpReject>(reply).Code);
        Assert.False(forwarded);
        _ledger.Fail = _ => false;
        Assert.Equal(((UInt128)0, (UInt128)0), await AliceOwesAsync());
        Assert.Contains(("reserve", false), _observer.Operations);
    }

    [Fact]
    public async Task A_post_that_fails_once_is_retried_with_the_same_ids_and_the_fulfill_goes_upstream()
    {
        var step = await StepAsync();
        int postFailures = 0;
        _ledger.Fail = batch => batch[0].Flags.HasFlag(TransferFlags.PostPending) && postFailures++ == 0;
        var running = step.InvokeAsync(Context(100), Reply(Fulfill)).AsTask();
        var reply = await DriveClockAsync(running);

        Assert.Same(Fulfill, reply);
        Assert.Equal(2, postFailures);
        Assert.Equal(((UInt128)100, (UInt128)0), await AliceOwesAsync());
        Assert.Equal(0, _observer.PostFailures);
        await AssertBooksConsistentAsync();
    }

    [Fact]
    public async Task A_post_that_keeps_failing_is_T00_and_the_reservation_is_voided_once_the_ledger_answers()
    {
        var step = await StepAsync();
        _ledger.Fail = batch => batch[0].Flags.HasFlag(TransferFlags.PostPending);
        var reply = await DriveClockAsync(step.InvokeAsync(Context(100), Reply(Fulfill)).AsTask());

        Assert.Equal(IlpErrorCode.T00_InternalError, Assert.IsType<IlpReject>(reply).Code);
        Assert.Equal(1, _observer.PostFailures);
        Assert.Equal(((UInt128)0, (UInt128)100), await AliceOwesAsync()); // reserved, not posted

        // The doubtful post resolves in the background once the ledger answers: the books then match the T00.
        _ledger.Fail = _ => false;
        for (int i = 0; i < 200 && (await AliceOwesAsync()).Item2 != 0; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Delay(5);
        }
        Assert.Equal(((UInt128)0, (UInt128)0), await AliceOwesAsync());
        await AssertBooksConsistentAsync();
    }

    [Fact]
    public async Task Pending_transfers_time_out_one_second_after_the_outgoing_expiry_on_the_ledgers_clock()
    {
        var step = await StepAsync();
        var context = Context(100);
        var reply = await step.InvokeAsync(context, async _ =>
        {
            // While the packet is out: nothing expires up to the outgoing expiry + grace; right after it, the sweeper voids.
            Assert.Equal(0, await _ledger.ExpirePendingAsync(context.OutgoingExpiresAt + LedgerStep.PendingGrace - TimeSpan.FromMilliseconds(1)));
            Assert.Equal(2, await _ledger.ExpirePendingAsync(context.OutgoingExpiresAt + LedgerStep.PendingGrace));
            return Fulfill;
        });

        // The Fulfill came too late for the books: the post finds the reservation expired, so the answer is T00.
        Assert.Equal(IlpErrorCode.T00_InternalError, Assert.IsType<IlpReject>(reply).Code);
        Assert.Equal(((UInt128)0, (UInt128)0), await AliceOwesAsync());
        await AssertBooksConsistentAsync();
    }

    [Fact]
    public async Task Zero_amounts_skip_the_ledger_and_other_assets_are_F02()
    {
        var step = await StepAsync();
        _ledger.Fail = _ => throw new InvalidOperationException("the ledger must not be called");
        Assert.Same(Fulfill, await step.InvokeAsync(Context(0), Reply(Fulfill)));
        _ledger.Fail = _ => false;

        var reply = await step.InvokeAsync(Context(5, nextHop: "eve"), Reply(Fulfill));
        Assert.Equal(IlpErrorCode.F02_Unreachable, Assert.IsType<IlpReject>(reply).Code);
        reply = await step.InvokeAsync(Context(5, nextHop: "nobody"), Reply(Fulfill));
        Assert.Equal(IlpErrorCode.F02_Unreachable, Assert.IsType<IlpReject>(reply).Code);
    }

    /// <summary>Advances the fake clock in small steps until <paramref name="task"/> completes (the post retry waits on it).</summary>
    private async Task<T> DriveClockAsync<T>(Task<T> task)
    {
        for (int i = 0; i < 1_000 && !task.IsCompleted; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(50));
            await Task.WhenAny(task, Task.Delay(5));
        }
        Assert.True(task.IsCompleted, "the step did not finish within 50 s of fake time");
        return await task;
    }

    private sealed class RecordingObserver : ILedgerObserver
    {
        public System.Collections.Concurrent.ConcurrentQueue<(string, bool)> Operations { get; } = new();
        public int PostFailures;

        public void Operation(string operation, TimeSpan elapsed, bool ok) => Operations.Enqueue((operation, ok));

        public void FulfillPostFailed() => Interlocked.Increment(ref PostFailures);
    }

    /// <summary>The reference ledger, but CreateTransfersAsync throws LedgerUnavailableException while <see cref="Fail"/> says so.</summary>
    private sealed class FailingLedger(MemoryLedger inner) : ILedger
    {
        public Func<IReadOnlyList<Transfer>, bool> Fail { get; set; } = _ => false;

        public string Backend => "failing-memory";

        public ValueTask<IReadOnlyList<CreateTransferResult>> CreateTransfersAsync(IReadOnlyList<Transfer> transfers, CancellationToken ct = default) =>
            Fail(transfers) ? throw new LedgerUnavailableException("ledger down (test)") : inner.CreateTransfersAsync(transfers, ct);

        public ValueTask<IReadOnlyList<CreateAccountResult>> CreateAccountsAsync(IReadOnlyList<Account> accounts, CancellationToken ct = default) => inner.CreateAccountsAsync(accounts, ct);
        public ValueTask<bool> SetDebitLimitAsync(UInt128 id, UInt128? debitLimit, CancellationToken ct = default) => inner.SetDebitLimitAsync(id, debitLimit, ct);
        public ValueTask<Account?> LookupAccountAsync(UInt128 id, CancellationToken ct = default) => inner.LookupAccountAsync(id, ct);
        public ValueTask<IReadOnlyList<Account>> ListAccountsAsync(CancellationToken ct = default) => inner.ListAccountsAsync(ct);
        public IAsyncEnumerable<(Transfer Transfer, PendingState? State)> ReadJournalAsync(CancellationToken ct = default) => inner.ReadJournalAsync(ct);
        public ValueTask<int> ExpirePendingAsync(DateTimeOffset now, CancellationToken ct = default) => inner.ExpirePendingAsync(now, ct);
        public ValueTask PingAsync(CancellationToken ct = default) => inner.PingAsync(ct);
        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
