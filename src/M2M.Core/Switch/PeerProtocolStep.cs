using M2M.Core.Ilp;
using M2M.Core.Routing;

namespace M2M.Core.Switch;

/// <summary>Handles the CCP messages a peer sends us (<c>peer.route.control</c>, <c>peer.route.update</c>).</summary>
public interface IRouteProtocolHandler
{
    IlpReply HandleControl(PeerDescriptor source, CcpRouteControl control);

    IlpReply HandleUpdate(PeerDescriptor source, CcpRouteUpdate update);

    /// <summary>A CCP message that could not be decoded: logged, answered with F01.</summary>
    void Malformed(PeerDescriptor source, string destination, string error);
}

/// <summary>
/// Answers <c>peer.route.*</c> Prepares (CCP, see <see cref="Ccp"/>) before routing: they are addressed to
/// us as the peer's neighbour, never forwarded. The peer protocol condition is required (F01 otherwise), as
/// ilp-connector's peer-protocol controller does.
/// </summary>
public sealed class PeerProtocolStep(SwitchOptions options, IRouteProtocolHandler handler) : IPacketStep
{
    private const string RoutePrefix = "peer.route.";

    public ValueTask<IlpReply> InvokeAsync(PacketContext context, PacketHandler next)
    {
        var prepare = context.Prepare;
        if (!prepare.Destination.StartsWith(RoutePrefix, StringComparison.Ordinal)) return next(context);
        if (!prepare.ExecutionCondition.Span.SequenceEqual(Ildcp.Condition.Span))
            return options.RejectAsync(RejectReason.PeerProtocolInvalid, "condition must be the peer protocol condition");
        switch (prepare.Destination)
        {
            case Ccp.ControlDestination:
                if (!Ccp.TryDecodeControl(prepare.Data.Span, out var control, out string? controlError))
                    return Malformed(context, controlError!);
                return Reply(handler.HandleControl(context.Source, control!));
            case Ccp.UpdateDestination:
                if (!Ccp.TryDecodeUpdate(prepare.Data.Span, out var update, out string? updateError))
                    return Malformed(context, updateError!);
                return Reply(handler.HandleUpdate(context.Source, update!));
            default:
                return options.RejectAsync(RejectReason.PeerProtocolInvalid, $"unknown peer protocol {prepare.Destination}");
        }
    }

    private ValueTask<IlpReply> Malformed(PacketContext context, string error)
    {
        handler.Malformed(context.Source, context.Prepare.Destination, error);
        return options.RejectAsync(RejectReason.PeerProtocolInvalid, $"malformed {context.Prepare.Destination}: {error}");
    }

    private static ValueTask<IlpReply> Reply(IlpReply reply) => ValueTask.FromResult(reply);
}
