using M2M.Core.Diagnostics;
using M2M.Core.Ilp;
using M2M.Core.Ledger;

namespace M2M.Core.Switch;

/// <summary>Ledger outcomes the host counts and alerts on.</summary>
public interface ILedgerObserver
{
    void Operation(string operation, TimeSpan elapsed, bool ok);
    /// <summary>A Fulfill arrived but its post did not commit: we answered T00 instead. Should never happen.</summary>
    void FulfillPostFailed();
}

/// <summary>
/// Two-phase accounting around forwarding (RELIABILITY.md, the ordering rule for a hop):
/// reserve pending transfers durably before forwarding (T04 past the source's credit limit,
/// T00 when the ledger is down, so nothing is forwarded that could not be accounted); on a valid
/// Fulfill post them durably and only then pass the Fulfill upstream (T00 if the post fails);
/// on a Reject or timeout void them. Pending transfers time out at the outgoing expiry + 1 s,
/// after which the sweeper voids whatever was left.
/// </summary>
public sealed partial class LedgerStep(SwitchOptions options, ILedger ledger, Func<string, PeerDescriptor?> peers, TimeProvider time, ILedgerObserver? observer = null) : IPacketStep
{
    /// <summary>Grace after the outgoing expiry before a pending transfer times out (one clock, design rule 3).</summary>
    public static readonly TimeSpan PendingGrace = TimeSpan.FromSeconds(1);

    /// <summary>Durable record of doubtful posts, so a restart finishes their resolution; null: in memory only.</summary>
    public IDoubtfulPostJournal? Journal { get; init; }

    public async ValueTask<IlpReply> InvokeAsync(PacketContext context, PacketHandler next)
    {
        ulong amount = context.Prepare.Amount;
        if (amount == 0) return await next(context).ConfigureAwait(false);
        var source = context.Source;
        var destination = peers(context.NextHop!);
        if (destination is null) return options.Reject(RejectReason.NextHopNotAPeer, $"next hop '{context.NextHop}' is not a configured peer");
        uint ledgerIn = PeerAccounts.LedgerFor(source.AssetCode, source.AssetScale);
        uint ledgerOut = PeerAccounts.LedgerFor(destination.AssetCode, destination.AssetScale);
        if (ledgerIn != ledgerOut && !context.Converted)
            return options.Reject(RejectReason.NoExchangeRate, $"no exchange rate from {source.AssetCode}/{source.AssetScale} to {destination.AssetCode}/{destination.AssetScale} (no rates configured)");

        // Each leg on its own asset's ledger: with a conversion, the source's clearing account gains the
        // incoming amount and the destination's loses the (smaller, rounded-down) outgoing one.
        var incoming = PendingTransfer(PeerAccounts.PeerAccountId(source.Id, ledgerIn), PeerAccounts.ClearingAccountId(ledgerIn), amount, ledgerIn, context, TransferFlags.Linked);
        var outgoing = PendingTransfer(PeerAccounts.ClearingAccountId(ledgerOut), PeerAccounts.PeerAccountId(destination.Id, ledgerOut), context.OutgoingAmount, ledgerOut, context, TransferFlags.None);
        var reserve = await Run("reserve", [incoming, outgoing], context.CancellationToken).ConfigureAwait(false);
        if (reserve is null) return options.Reject(RejectReason.LedgerUnavailable, "ledger unavailable: packet not forwarded");
        if (!reserve[0].IsApplied())
        {
            return reserve[0] == CreateTransferResult.ExceedsCredits || reserve[1] == CreateTransferResult.ExceedsCredits
                ? options.Reject(RejectReason.CreditLimitExceeded, $"peer '{source.Id}' would exceed its credit limit")
                : options.Reject(RejectReason.LedgerRefused, $"ledger refused the reservation ({reserve[0]}, {reserve[1]})");
        }

        CrashPoint.Hit("after-reserve-commit");
        CrashPoint.Hit("before-forward");
        var reply = await next(context).ConfigureAwait(false);
        if (reply is IlpFulfill)
        {
            CrashPoint.Hit("after-fulfill-received");
            if (context.Upstream is { IsOpen: false }) return await PostOutgoingLegOnlyAsync(incoming, outgoing, context, reply).ConfigureAwait(false);
            var posts = ResolvePair(incoming.Id, outgoing.Id, TransferFlags.PostPending);
            var posted = await PostAsync(posts, context).ConfigureAwait(false);
            if (posted is not null && posted.All(r => r.IsApplied()))
            {
                CrashPoint.Hit("after-post-commit-before-reply");
                if (context.Upstream is { IsOpen: false }) await CompensateUndeliveredAsync(incoming, context).ConfigureAwait(false);
                return reply;
            }
            observer?.FulfillPostFailed();
            // The post's outcome may be unknown (ledger down, or a retry answered other than Exists):
            // settle it once the ledger answers, so the books match the T00 we send (void the
            // reservation, or reverse a post that did land). Journaled first, so a restart finishes it.
            var doubtful = DoubtfulPost.For(incoming, outgoing, posts, time.GetUtcNow());
            Journal?.TryAppend(doubtful);
            _ = ResolveDoubtfulPostAsync(doubtful, DoubtfulResolveLimit, CancellationToken.None);
            return options.Reject(RejectReason.PostFailed, "fulfilled downstream but the ledger could not record it");
        }
        // Reject or timeout: release the reservation; if this fails, the sweeper voids it at its timeout.
        await Run("void", ResolvePair(incoming.Id, outgoing.Id, TransferFlags.VoidPending), CancellationToken.None).ConfigureAwait(false);
        CrashPoint.Hit("after-void-commit");
        return reply;
    }

    private Transfer PendingTransfer(UInt128 debit, UInt128 credit, ulong amount, uint ledgerId, PacketContext context, TransferFlags extra) => new()
    {
        Id = PeerAccounts.NewTransferId(),
        DebitAccountId = debit,
        CreditAccountId = credit,
        Amount = amount,
        Ledger = ledgerId,
        Code = TransferIds.PacketCode,
        Flags = TransferFlags.Pending | extra,
        TimeoutAt = context.OutgoingExpiresAt + PendingGrace,
    };

    /// <summary>Posts or voids a reserved pair (<paramref name="flags"/>: PostPending or VoidPending), incoming linked to outgoing; fresh ids.</summary>
    private static Transfer[] ResolvePair(UInt128 incomingId, UInt128 outgoingId, TransferFlags flags) =>
    [
        new() { Id = PeerAccounts.NewTransferId(), PendingId = incomingId, Flags = flags | TransferFlags.Linked, Code = TransferIds.PacketCode },
        new() { Id = PeerAccounts.NewTransferId(), PendingId = outgoingId, Flags = flags, Code = TransferIds.PacketCode },
    ];

    // ValueTask: a ledger that answers synchronously (a whole batch already committed, or the benchmark's null ledger) costs no Task here.
    private async ValueTask<IReadOnlyList<CreateTransferResult>?> Run(string operation, Transfer[] transfers, CancellationToken ct)
    {
        long started = time.GetTimestamp();
        try
        {
            var results = await ledger.CreateTransfersAsync(transfers, ct).ConfigureAwait(false);
            observer?.Operation(operation, time.GetElapsedTime(started), results.All(r => r.IsApplied()));
            return results;
        }
        catch (Exception e) when (e is LedgerUnavailableException or OperationCanceledException)
        {
            observer?.Operation(operation, time.GetElapsedTime(started), ok: false);
            return null;
        }
    }
}
