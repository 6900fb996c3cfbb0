using M2M.Btp;
using M2M.Settlement.BtpTransfer;
using M2M.Settlement.Coordination;

namespace M2M.Server.Peers;

/// <summary>
/// The host's side of BTP TRANSFER settlement (the logic lives in M2M.Settlement): sends our TRANSFERs on a
/// peer's live session, and hands incoming ones to the <see cref="BtpTransferReceiver"/>, answering F00 when it refuses.
/// </summary>
public sealed class BtpPeerTransfers(Func<string, BtpSession?> sessionOf, BtpTransferReceiver receiver) : IPeerTransfers
{
    public BtpTransferReceiver Receiver => receiver;

    public async Task SendTransferAsync(string peerId, ulong amount, Guid idempotencyKey, CancellationToken ct)
    {
        var session = sessionOf(peerId) ?? throw new SettlementFailedException($"peer '{peerId}' is not connected: cannot send a BTP TRANSFER");
        BtpProtocolData[] data = [new(BtpTransferReceiver.IdempotencyKeyProtocol, BtpContentType.ApplicationOctetStream, idempotencyKey.ToByteArray())];
        try
        {
            await session.SendTransferAsync(amount, data, ct).ConfigureAwait(false);
        }
        catch (BtpRemoteException e)
        {
            throw new SettlementFailedException($"peer '{peerId}' refused the BTP TRANSFER: {e.Code} {e.ErrorName} {e.Message}", e);
        }
        catch (BtpException e)
        {
            throw new SettlementFailedException($"BTP TRANSFER to '{peerId}' failed: {e.Message}", e);
        }
    }

    /// <summary>The session hook for incoming TRANSFER: RESPONSE once booked, F00 with the reason when refused.</summary>
    public async ValueTask HandleAsync(BtpSession session, BtpTransferRequest transfer)
    {
        ReadOnlyMemory<byte>? key = null;
        foreach (var entry in transfer.ProtocolData)
        {
            if (entry.ProtocolName == BtpTransferReceiver.IdempotencyKeyProtocol) key = entry.Data;
        }
        string? refused = await receiver.AcceptAsync(session.PeerId, transfer.RequestId, transfer.Amount, key, CancellationToken.None).ConfigureAwait(false);
        if (refused is not null) throw new BtpRefusedException(refused);
    }
}
