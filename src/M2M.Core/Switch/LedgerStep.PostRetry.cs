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
    private async Task<IReadOnlyList<CreateTransferResult>?> PostAsync(Transfer[] posts, PacketContext context)
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
    private async Task<TimeSpan> BackOffAsync(TimeSpan delay)
    {
        await Task.Delay(delay, time).ConfigureAwait(false);
        return delay * 2 < MaxRetryDelay ? delay * 2 : MaxRetryDelay;
    }

    /// <summary>How long a doubtful post is chased after the T00 went upstream (bounded, in-memory).</summary>
    private static readonly TimeSpan DoubtfulResolveLimit = TimeSpan.FromMinutes(10);

    /// <summary>
    /// We answered T00 while the post's outcome was unknown. Once the ledger answers, make the books
    /// agree with that answer: void the reservation; if the post had committed after all
    /// (PendingTransferAlreadyPosted), reverse it with two linked transfers. Ids are fixed before
    /// the loop, so retries are idempotent. Found by the crash harness stopping PostgreSQL for 2 s.
    /// </summary>
    private async Task ResolveDoubtfulPostAsync(Transfer incoming, Transfer outgoing)
    {
        Transfer[] voids = [Resolve(incoming, TransferFlags.VoidPending | TransferFlags.Linked), Resolve(outgoing, TransferFlags.VoidPending)];
        Transfer[] reversal =
        [
            Reversal(incoming, TransferFlags.Linked),
            Reversal(outgoing, TransferFlags.None),
        ];
        var giveUp = time.GetUtcNow() + DoubtfulResolveLimit;
        var delay = FirstRetryDelay;
        bool reversing = false;
        while (time.GetUtcNow() < giveUp)
        {
            var results = await Run(reversing ? "reverse-doubtful" : "void-doubtful", reversing ? reversal : voids, CancellationToken.None).ConfigureAwait(false);
            if (results is not null)
            {
                if (!reversing && results[0] == CreateTransferResult.PendingTransferAlreadyPosted) { reversing = true; continue; }
                return; // voided now, already voided/expired, or reversed (Ok or Exists)
            }
            delay = await BackOffAsync(delay).ConfigureAwait(false);
        }
    }

    /// <summary>The posted transfer turned around: credit goes back to the debit side, same amount and ledger.</summary>
    private static Transfer Reversal(Transfer pending, TransferFlags flags) => new()
    {
        Id = PeerAccounts.NewTransferId(),
        DebitAccountId = pending.CreditAccountId,
        CreditAccountId = pending.DebitAccountId,
        Amount = pending.Amount,
        Ledger = pending.Ledger,
        Code = PeerAccounts.PacketTransferCode,
        Flags = flags,
    };
}
