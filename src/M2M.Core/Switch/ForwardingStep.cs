using System.Security.Cryptography;
using M2M.Core.Ilp;

namespace M2M.Core.Switch;

/// <summary>
/// The terminal step: sends the Prepare (with its shortened expiry) to the next hop, waits at most
/// until that expiry (R00), and accepts a Fulfill only if sha256(fulfillment) == condition (else F05)
/// and it arrived before the outgoing expiry on our clock (else R00).
/// </summary>
public sealed class ForwardingStep(SwitchOptions options, IPeerLinks links, TimeProvider time)
{
    public async ValueTask<IlpReply> InvokeAsync(PacketContext context)
    {
        string nextHop = context.NextHop ?? throw new InvalidOperationException("routing step did not set NextHop");
        if (!links.TryGetLink(nextHop, out var link) || link is null)
            return options.Reject(RejectReason.NextHopNotConnected, $"next hop '{nextHop}' is not connected");
        var prepare = context.Prepare;
        var outgoing = new IlpPrepare
        {
            Amount = context.OutgoingAmount,
            ExpiresAt = context.OutgoingExpiresAt,
            ExecutionCondition = prepare.ExecutionCondition,
            Destination = prepare.Destination,
            Data = prepare.Data,
        };
        var wait = context.OutgoingExpiresAt - time.GetUtcNow();
        if (wait <= TimeSpan.Zero) return options.Reject(RejectReason.ExpiredBeforeForwarding, "packet expired before it could be forwarded");
        // Only the expiry ends the wait: the sender going away does not (issue 13 defect 2). The next hop's
        // in-time Fulfill is owed to it whatever happened upstream; the ledger step books it (two-leg rule).
        // The next hop's session closing (also at shutdown) fails the request with PeerUnavailableException.
        var timeout = StartTimeout(wait);
        IlpReply reply;
        try
        {
            reply = await link.SendPrepareAsync(outgoing, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return options.Reject(RejectReason.NoReplyBeforeExpiry, $"no reply from '{nextHop}' before the packet expired");
        }
        catch (PeerUnavailableException e)
        {
            return options.Reject(RejectReason.PeerUnavailable, e.Reason);
        }
        finally
        {
            EndTimeout(timeout);
        }
        return reply is IlpFulfill fulfill ? CheckFulfill(fulfill, context, nextHop) : reply;
    }

    // One spare expiry source per thread: on the system clock a forwarded packet reuses a CancellationTokenSource
    // (and its timer and registration list) instead of allocating them. Reused only if TryReset succeeds, i.e. it
    // never fired and no callback is left registered, so a later packet cannot see an earlier one's expiry.
    [ThreadStatic] private static CancellationTokenSource? t_spareTimeout;

    private CancellationTokenSource StartTimeout(TimeSpan wait)
    {
        if (!ReferenceEquals(time, TimeProvider.System)) return new CancellationTokenSource(wait, time);
        var timeout = t_spareTimeout ?? new CancellationTokenSource();
        t_spareTimeout = null;
        timeout.CancelAfter(wait);
        return timeout;
    }

    private void EndTimeout(CancellationTokenSource timeout)
    {
        if (ReferenceEquals(time, TimeProvider.System) && t_spareTimeout is null && timeout.TryReset()) t_spareTimeout = timeout;
        else timeout.Dispose();
    }

    private IlpReply CheckFulfill(IlpFulfill fulfill, PacketContext context, string nextHop)
    {
        if (!FulfillmentMatches(fulfill.Fulfillment.Span, context.Prepare.ExecutionCondition.Span))
            return options.Reject(RejectReason.WrongCondition, $"fulfillment from '{nextHop}' does not match the condition");
        if (time.GetUtcNow() > context.OutgoingExpiresAt)
            return options.Reject(RejectReason.FulfillAfterExpiry, $"fulfillment from '{nextHop}' arrived after the packet expired");
        return fulfill;
    }

    /// <summary>True when sha256(fulfillment) equals the 32-byte condition.</summary>
    public static bool FulfillmentMatches(ReadOnlySpan<byte> fulfillment, ReadOnlySpan<byte> condition)
    {
        if (fulfillment.Length != IlpCodec.HashLength || condition.Length != IlpCodec.HashLength) return false;
        Span<byte> hash = stackalloc byte[IlpCodec.HashLength];
        SHA256.HashData(fulfillment, hash);
        return CryptographicOperations.FixedTimeEquals(hash, condition);
    }
}
