using System.Buffers;
using M2M.Btp;
using M2M.Core.Ilp;
using M2M.Core.Switch;

namespace M2M.Server.Peers;

/// <summary>Carries ILP packets to a peer over its authenticated BTP session.</summary>
internal sealed class BtpPeerLink(BtpSession session) : IPeerLink
{
    public string PeerId => session.PeerId;

    public BtpSession Session => session;

    public async ValueTask<IlpReply> SendPrepareAsync(IlpPrepare prepare, CancellationToken cancellationToken)
    {
        ReadOnlyMemory<byte> replyBytes;
        try
        {
            // Encoded straight into the session's pooled frame buffer: no buffer per forwarded Prepare.
            replyBytes = await session.SendIlpAsync(IlpEncoder.EncodedLength(prepare), prepare,
                static (frame, p) => IlpEncoder.Encode(p, frame), cancellationToken).ConfigureAwait(false);
        }
        catch (BtpSessionClosedException e)
        {
            throw new PeerUnavailableException(PeerId, "the BTP connection closed before the reply", e);
        }
        catch (BtpRemoteException e)
        {
            throw new PeerUnavailableException(PeerId, $"peer answered with BTP error {e.Code} {e.ErrorName}", e);
        }
        if (IlpCodec.TryDecode(replyBytes, out var packet, out string? error) != OperationStatus.Done || packet is not IlpReply reply)
            throw new PeerUnavailableException(PeerId, $"peer sent an invalid ILP reply ({error ?? "not a Fulfill or Reject"})");
        return reply;
    }
}
