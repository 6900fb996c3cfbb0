using M2M.Core.Diagnostics;
using M2M.Core.Ledger;

namespace M2M.Core.Switch;

public sealed partial class LedgerStep
{
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Posts a fulfilled packet. When the ledger fails mid-call the outcome is unknown: the COMMIT
    /// may have landed before the connection died (found by the crash harness killing PostgreSQL:
    /// posted, yet answered T00). The same transfers (same ids) are retried until half the expiry
    /// margin past the outgoing expiry: Exists means it had committed, Ok means it commits now;
    /// only if the ledger stays down that long is the answer T00.
    /// </summary>
    private async ValueTask<IReadOnlyList<CreateTransferResult>?> PostAsync(Transfer[] posts, PacketContext context)
    {
        var deadline = context.OutgoingExpiresAt + options.ExpiryMargin / 2;
        var delay = FirstRetryDelay;
        while (true)
        {
            var results = await Run("post", posts, CancellationToken.None).ConfigureAwait(false);
            if (results is not null || time.GetUtcNow() + delay > deadline) return results;
            delay = await BackOffAsync(delay).ConfigureAwait(false);
        }
    }

    /// <summary>Waits <paramref name="delay"/>, then returns the next one: doubled, at most MaxRetryDelay.</summary>
    private async Task<TimeSpan> BackOffAsync(TimeSpan delay, CancellationToken ct = default)
    {
        await Task.Delay(delay, time, ct).ConfigureAwait(false);
        return delay * 2 < MaxRetryDelay ? delay * 2 : MaxRetryDelay;
    }

    /// <summary>How long a doubtful post is chased in this process after the T00 went upstream; the journal keeps it past that.</summary>
    private static readonly TimeSpan DoubtfulResolveLimit = TimeSpan.FromMinutes(10);

    /// <summary>
    /// We answered T00 while the post's outcome was unknown. Once the ledger answers, make the books
    /// agree with that answer: void the reservation; if the post had committed after all
    /// (PendingTransferAlreadyPosted), reverse it with two linked transfers. The reversal ids are
    /// fixed in the record, so retries (and a replay after a crash) are idempotent. Found by the
    /// crash harness stopping PostgreSQL for 2 s. Returns null when it gave up (limit reached,
    /// cancelled, or the reversal was refused): the journal record then stays open.
    /// </summary>
    private async Task<DoubtfulOutcome?> ResolveDoubtfulPostAsync(DoubtfulPost post, TimeSpan? limit, CancellationToken ct)
    {
        var voids = ResolvePair(post.IncomingId, post.OutgoingId, TransferFlags.VoidPending);
        Transfer[] reversal =
        [
            Reversal(post.ReverseIncomingId, post.IncomingDebit, post.IncomingCredit, post.Amount, post.Ledger, TransferFlags.Linked),
            Reversal(post.ReverseOutgoingId, post.OutgoingDebit, post.OutgoingCredit, post.OutgoingAmount ?? post.Amount, post.OutgoingLedger ?? post.Ledger, TransferFlags.None),
        ];
        var giveUp = limit is { } l ? time.GetUtcNow() + l : DateTimeOffset.MaxValue;
        var delay = FirstRetryDelay;
        bool reversing = false;
        // Let the T00 go upstream first (and give the ledger a moment): the crash tests kill here.
        try { await Task.Delay(FirstRetryDelay, time, ct).ConfigureAwait(false); }
        catch (OperationCanceledException) { return null; }
        CrashPoint.Hit("doubtful-post-resolve");
        while (time.GetUtcNow() < giveUp && !ct.IsCancellationRequested)
        {
            var results = await Run(reversing ? "reverse-doubtful" : "void-doubtful", reversing ? reversal : voids, ct).ConfigureAwait(false);
            if (results is not null)
            {
                if (!reversing && results[0] == CreateTransferResult.PendingTransferAlreadyPosted) { reversing = true; continue; }
                var outcome = Outcome(reversing, results[0]);
                if (outcome is not null) Journal?.Resolved(post.IncomingId, outcome.Value);
                return outcome;
            }
            try { delay = await BackOffAsync(delay, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
        }
        return null;
    }

    /// <summary>Voided now; already voided or expired; reversed (Ok or Exists). A refused reversal stays open (null).</summary>
    private static DoubtfulOutcome? Outcome(bool reversing, CreateTransferResult first) =>
        reversing ? (first.IsApplied() ? DoubtfulOutcome.Reversed : null)
        : first.IsApplied() ? DoubtfulOutcome.Voided : DoubtfulOutcome.NotPosted;

    /// <summary>
    /// Resolves every doubtful post a previous run left open (killed before it could), retrying while
    /// the ledger is down until <paramref name="ct"/> is cancelled, then compacts the journal.
    /// Returns how many were resolved.
    /// </summary>
    public async Task<int> ReplayDoubtfulPostsAsync(CancellationToken ct)
    {
        if (Journal is null) return 0;
        var open = Journal.Open;
        if (open.Count == 0) return 0;
        var outcomes = await Task.WhenAll(open.Select(p => ResolveDoubtfulPostAsync(p, limit: null, ct))).ConfigureAwait(false);
        Journal.Compact();
        return outcomes.Count(o => o is not null);
    }

    /// <summary>The posted transfer turned around: credit goes back to the debit side, same amount and ledger.</summary>
    private static Transfer Reversal(UInt128 id, UInt128 debit, UInt128 credit, ulong amount, uint ledger, TransferFlags flags) => new()
    {
        Id = id,
        DebitAccountId = credit,
        CreditAccountId = debit,
        Amount = amount,
        Ledger = ledger,
        Code = TransferIds.PacketCode,
        Flags = flags,
    };
}
