using M2M.Core.Ilp;
using M2M.Core.Routing;

namespace M2M.Core.Switch;

/// <summary>Answers ILDCP (RFC 31) <c>peer.config</c> requests from child peers with their address.</summary>
public sealed class IldcpStep(SwitchOptions options) : IPacketStep
{
    public ValueTask<IlpReply> InvokeAsync(PacketContext context, PacketHandler next)
    {
        if (context.Prepare.Destination != Ildcp.Destination) return next(context);
        if (context.Source.Relation != PeerRelation.Child)
        {
            return options.RejectAsync(RejectReason.IldcpNotChild,
                $"peer.config is answered for child peers only; peer '{context.Source.Id}' is a {context.Source.Relation.ToString().ToLowerInvariant()}");
        }
        var response = new IldcpResponse(ChildAddress(options.IlpAddress, context.Source.Id), context.Source.AssetScale, context.Source.AssetCode);
        return ValueTask.FromResult<IlpReply>(Ildcp.CreateFulfill(response));
    }

    public static string ChildAddress(string parent, string childId) => parent + "." + childId;
}

/// <summary>Rejects amounts above the source peer's maximum with F08 (RFC 27 / RFC 18).</summary>
public sealed class MaxPacketAmountStep(SwitchOptions options) : IPacketStep
{
    public ValueTask<IlpReply> InvokeAsync(PacketContext context, PacketHandler next)
    {
        ulong? max = context.Source.MaxPacketAmount;
        if (max is { } limit && context.Prepare.Amount > limit)
            return ValueTask.FromResult<IlpReply>(IlpRejects.AmountTooLarge(options.IlpAddress, context.Prepare.Amount, limit));
        return next(context);
    }
}

/// <summary>
/// Rejects expired Prepares (R00) and those that leave too little time to forward (R02);
/// otherwise sets the outgoing expiry to min(incoming − margin, now + max hold).
/// </summary>
public sealed class ExpiryStep(SwitchOptions options, TimeProvider time) : IPacketStep
{
    public ValueTask<IlpReply> InvokeAsync(PacketContext context, PacketHandler next)
    {
        var now = time.GetUtcNow();
        var incoming = context.Prepare.ExpiresAt;
        if (incoming <= now)
            return options.RejectAsync(RejectReason.Expired, $"packet expired at {incoming:O}, {(now - incoming).TotalMilliseconds:F0} ms ago");
        var outgoing = Min(incoming - options.ExpiryMargin, now + options.MaxHoldTime);
        if (outgoing - now < options.ExpiryMargin)
            return options.RejectAsync(RejectReason.InsufficientTimeout, $"packet expires in {(incoming - now).TotalMilliseconds:F0} ms, too soon to forward (margin {options.ExpiryMargin.TotalMilliseconds:F0} ms)");
        context.OutgoingExpiresAt = outgoing;
        return next(context);
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
}

/// <summary>Chooses the next hop by longest prefix; F02 when there is none or it would loop back.</summary>
public sealed class RoutingStep(SwitchOptions options, Func<RoutingTable> routes, string localNodeId) : IPacketStep
{
    public ValueTask<IlpReply> InvokeAsync(PacketContext context, PacketHandler next)
    {
        var route = routes().Lookup(context.Prepare.Destination);
        if (route is null)
            return options.RejectAsync(RejectReason.NoRoute, $"no route to {context.Prepare.Destination}");
        if (route.NextHop == localNodeId)
            return options.RejectAsync(RejectReason.LocalRouteWithoutReceiver, $"{context.Prepare.Destination} is a local route and this connector has no local receiver");
        // An echo response goes back to whoever asked, possibly the sending peer itself.
        if (route.NextHop == context.Source.Id && !context.Echo)
            return options.RejectAsync(RejectReason.RouteLoop, $"route to {context.Prepare.Destination} leads back to the sending peer '{context.Source.Id}'");
        context.NextHop = route.NextHop;
        return next(context);
    }
}
