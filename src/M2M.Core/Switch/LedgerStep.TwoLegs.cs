using M2M.Core.Ilp;
using M2M.Core.Ledger;

namespace M2M.Core.Switch;

/// <summary>A Fulfill we owed downstream and paid, but could not deliver upstream: the connector's own loss.</summary>
public interface IUnrecoverableFulfillObserver
{
    /// <param name="reason">Why the Fulfill could not go back: the sender's connection was gone before it arrived, or the reply could not be sent.</param>
    void UnrecoverableFulfill(string sourcePeer, string nextHop, ulong amount, string assetCode, byte assetScale, string reason);
}

public sealed partial class LedgerStep
{
    internal const string SenderGoneReason = "the sender's connection was gone when the Fulfill arrived";
    internal const string ReplyNotSentReason = "the Fulfill could not be sent back to the sender";

    /// <summary>Counts and logs each unrecoverable Fulfill (metric connector_unrecoverable_fulfills_total).</summary>
    public IUnrecoverableFulfillObserver? Unrecoverable { get; init; }

    /// <summary>
    /// The two-leg rule (RELIABILITY.md) when the sender is gone before the next hop's in-time Fulfill
    /// arrived: the outgoing leg is owed to the next hop and posted, the incoming leg is voided (the
    /// sender never sees the Fulfill, so it must not pay), and the difference is debited to the
    /// connector-loss account; the three are one linked chain, retried with the same ids like a post.
    /// </summary>
    private async Task<IlpReply> PostOutgoingLegOnlyAsync(Transfer incoming, Transfer outgoing, PacketContext context, IlpReply fulfill)
    {
        Transfer[] chain =
        [
            new() { Id = PeerAccounts.NewTransferId(), PendingId = incoming.Id, Flags = TransferFlags.VoidPending | TransferFlags.Linked, Code = TransferIds.PacketCode },
            new() { Id = PeerAccounts.NewTransferId(), PendingId = outgoing.Id, Flags = TransferFlags.PostPending | TransferFlags.Linked, Code = TransferIds.PacketCode },
            LossTransfer(outgoing.DebitAccountId, outgoing),
        ];
        var results = await PostAsync(chain, context).ConfigureAwait(false);
        if (results is not null && results.All(r => r.IsApplied()))
        {
            // The loss is the outgoing leg, in the next hop's asset (it differs from the source's after an exchange).
            var paid = peers(context.NextHop!);
            Report(context, outgoing.Amount, paid?.AssetCode ?? context.Source.AssetCode, paid?.AssetScale ?? context.Source.AssetScale, SenderGoneReason);
            return fulfill;
        }
        // Ledger down past the retries: nothing of the chain committed (it is atomic), and the sweeper
        // voids both reservations at their timeout, as for any failed post.
        observer?.FulfillPostFailed();
        return options.Reject(RejectReason.PostFailed, "fulfilled downstream but the ledger could not record it");
    }

    /// <summary>
    /// Both legs were posted, then the sender's connection went away before the Fulfill could be sent:
    /// the sender will never see it, so its payment is given back from the connector-loss account.
    /// </summary>
    private async Task CompensateUndeliveredAsync(Transfer incoming, PacketContext context)
    {
        var refund = LossTransfer(incoming.DebitAccountId, incoming);
        var results = await PostAsync([refund], context).ConfigureAwait(false);
        if (results is not null && results[0].IsApplied()) Report(context, incoming.Amount, context.Source.AssetCode, context.Source.AssetScale, ReplyNotSentReason);
        else observer?.FulfillPostFailed();
    }

    /// <summary>Connector-loss → <paramref name="credit"/>, the packet's amount, on its ledger.</summary>
    private static Transfer LossTransfer(UInt128 credit, Transfer leg) => new()
    {
        Id = PeerAccounts.NewTransferId(),
        DebitAccountId = PeerAccounts.ConnectorLossAccountId(leg.Ledger),
        CreditAccountId = credit,
        Amount = leg.Amount,
        Ledger = leg.Ledger,
        Code = TransferIds.UnrecoverableFulfillCode,
    };

    private void Report(PacketContext context, UInt128 amount, string assetCode, byte assetScale, string reason) =>
        Unrecoverable?.UnrecoverableFulfill(context.Source.Id, context.NextHop!, (ulong)amount, assetCode, assetScale, reason);
}
