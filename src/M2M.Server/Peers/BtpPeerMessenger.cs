using M2M.Btp;
using M2M.Settlement;

namespace M2M.Server.Peers;

/// <summary>
/// The host's side of settlement's <see cref="IPeerMessenger"/>: a BTP MESSAGE with one JSON protocol-data entry
/// on the peer's live session, and (<see cref="SettlementSubProtocol"/>) the adapter that hands incoming sub-protocol entries to a settlement handler.
/// </summary>
public sealed class BtpPeerMessenger(Func<string, BtpSession?> sessionOf) : IPeerMessenger
{
    public async Task<ReadOnlyMemory<byte>?> SendAsync(string peerId, string protocol, ReadOnlyMemory<byte> json, TimeSpan timeout, CancellationToken ct)
    {
        var session = sessionOf(peerId);
        if (session is null || !session.IsOpen) throw new PeerMessageException($"no live BTP session with peer '{peerId}'");
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(timeout);
            var reply = await session.SendMessageAsync([new BtpProtocolData(protocol, BtpContentType.ApplicationJson, json)], deadline.Token).ConfigureAwait(false);
            return reply.TryGetProtocolData(protocol, out var data) ? data.Data : null;
        }
        catch (BtpRemoteException e)
        {
            throw new PeerMessageException($"{e.Code} {e.DataText}", refused: true, e);
        }
        catch (BtpException e)
        {
            throw new PeerMessageException(e.Message, inner: e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new PeerMessageException($"no answer within {timeout.TotalSeconds} s", inner: e);
        }
    }
}

/// <summary>A settlement handler of incoming sub-protocol messages (peer id, protocol, JSON) registered as a BTP sub-protocol.</summary>
public sealed class SettlementSubProtocol(string protocolName, Func<string, string, ReadOnlyMemory<byte>, ValueTask<ReadOnlyMemory<byte>?>> handler) : IBtpSubProtocol
{
    public string ProtocolName => protocolName;

    public async ValueTask<BtpProtocolData?> HandleAsync(BtpSession session, BtpProtocolData entry, CancellationToken ct) =>
        await handler(session.PeerId, entry.ProtocolName, entry.Data).ConfigureAwait(false) is { } reply
            ? new BtpProtocolData(entry.ProtocolName, BtpContentType.ApplicationJson, reply)
            : null;
}
