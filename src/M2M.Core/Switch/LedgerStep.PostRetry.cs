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
            await Task.Delay(delay, time).ConfigureAwait(false);
            delay = delay * 2 < MaxRetryDelay ? delay * 2 : MaxRetryDelay;
        }
    }
}
