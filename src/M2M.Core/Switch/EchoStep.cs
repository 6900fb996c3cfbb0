using M2M.Core.Ilp;

namespace M2M.Core.Switch;

/// <summary>
/// A Prepare to exactly our own address (ILDCP may change it, so it is read per packet) is an echo request
/// (<see cref="IlpEcho"/>): it continues down the pipeline as a new Prepare to the source address it names, same
/// amount and condition, echo-response data, marked <see cref="PacketContext.Echo"/> so routing may send it back
/// to the peer it came from (ilp-connector's reflectPayments). Expiry, routing, ledger and forwarding then treat it
/// as any forwarded packet: one expiry margin off, the source pays and the next hop is paid the same amount.
/// Anything else to our own address is F01 with ilp-connector's message.
/// </summary>
public sealed class EchoStep(SwitchOptions options) : IPacketStep
{
    public ValueTask<IlpReply> InvokeAsync(PacketContext context, PacketHandler next)
    {
        var prepare = context.Prepare;
        if (!string.Equals(prepare.Destination, options.IlpAddress, StringComparison.Ordinal)) return next(context);
        if (!IlpEcho.TryParseRequest(prepare.Data.Span, out string sourceAddress, out string error))
            return options.RejectAsync(RejectReason.EchoInvalid, error);
        var echo = new IlpPrepare
        {
            Amount = prepare.Amount,
            ExpiresAt = prepare.ExpiresAt,
            ExecutionCondition = prepare.ExecutionCondition,
            Destination = sourceAddress,
            Data = IlpEcho.ResponseData(),
        };
        return next(new PacketContext(echo, context.Source, context.ReceivedAt, context.CancellationToken) { Upstream = context.Upstream, Echo = true });
    }
}
