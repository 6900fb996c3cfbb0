using System.Buffers;
using M2M.Btp;
using M2M.Core.Ilp;
using M2M.Core.Switch;
using M2M.Server.Observability;

namespace M2M.Server.Peers;

/// <summary>
/// The connector's one BTP handler, given to every session (inbound and outbound) when it is created:
/// each ILP packet becomes a switch call whose reply is encoded back; sub-protocol MESSAGEs go to the
/// registered <see cref="IBtpSubProtocol"/>s by name (EVM claims today); TRANSFERs go to
/// <see cref="BtpPeerTransfers"/> (booked before the RESPONSE, F00 when the peer may not settle that way).
/// </summary>
internal sealed class IlpMessageHandler(PacketSwitch packetSwitch, PeerManager peers, ConnectorMetrics metrics, BtpSubProtocols subProtocols,
    BtpPeerTransfers transfers) : IBtpMessageHandler
{
    public ValueTask HandleTransferAsync(BtpSession session, BtpTransferRequest transfer, CancellationToken ct) =>
        transfers.HandleAsync(session, transfer);

    public ValueTask<BtpProtocolData?> HandleSubProtocolAsync(BtpSession session, BtpProtocolData entry, CancellationToken ct) =>
        subProtocols.DispatchAsync(session, entry, ct);

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
