using System.Buffers;
using M2M.Btp;
using M2M.Core.Ilp;
using M2M.Core.Switch;
using M2M.Server.Observability;

namespace M2M.Server.Peers;

/// <summary>Turns each ILP packet arriving over BTP into a switch call and encodes the reply.</summary>
internal sealed class IlpMessageHandler(PacketSwitch packetSwitch, PeerManager peers, ConnectorMetrics metrics) : IBtpMessageHandler
{
    public async ValueTask<ReadOnlyMemory<byte>> HandleIlpAsync(BtpSession session, ReadOnlyMemory<byte> ilpPacket, CancellationToken ct)
    {
        IlpReply reply;
        var source = peers.Describe(session.PeerId);
        if (source is null)
        {
            metrics.InvalidPacket();
            reply = packetSwitch.InvalidPacket($"peer '{session.PeerId}' is not configured");
        }
        else if (IlpCodec.TryDecode(ilpPacket, out var packet, out string? error) != OperationStatus.Done)
        {
            metrics.InvalidPacket();
            reply = packetSwitch.InvalidPacket($"invalid ILP packet: {error}");
        }
        else if (packet is not IlpPrepare prepare)
        {
            metrics.InvalidPacket();
            reply = packetSwitch.InvalidPacket($"expected an ILP Prepare, got a {packet!.Type}");
        }
        else
        {
            // The session is the way back: the switch asks it whether a Fulfill can still reach the sender.
            reply = await packetSwitch.HandleAsync(prepare, source, ct, session).ConfigureAwait(false);
        }
        return IlpEncoder.ToArray(reply);
    }
}
