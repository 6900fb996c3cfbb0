using System.Buffers;
using System.Buffers.Binary;
using System.Net.WebSockets;

namespace M2M.Btp;

/// <summary>
/// The read side: one loop per session receives frames, completes our pending requests with the peer's
/// replies and dispatches the peer's requests (ILP, sub-protocol MESSAGE, TRANSFER) to the session's
/// <see cref="IBtpMessageHandler"/> concurrently, bounded by MaxInFlightRequests.
/// </summary>
public sealed partial class BtpSession
{
    private int _incomingInFlight;

    private async Task ReadLoopAsync()
    {
        byte[] buffer = BtpFrameIO.RentReceiveBuffer(_limits);
        string reason;
        try
        {
            reason = await ReceiveFramesAsync(buffer).ConfigureAwait(false);
        }
        catch (Exception ex) when (BtpFrameIO.IsConnectionError(ex))
        {
            reason = ex.Message;
        }
        finally
        {
            BtpFrameIO.Return(buffer);
        }
        Shutdown(reason);
    }

    /// <summary>Returns why the connection ended.</summary>
    private async Task<string> ReceiveFramesAsync(byte[] buffer)
    {
        while (true)
        {
            var frame = await BtpFrameIO.ReceiveAsync(_socket, buffer, _limits.MaxFrameBytes, _lifetime.Token).ConfigureAwait(false);
            switch (frame.Kind)
            {
                case FrameKind.Closed:
                    PeerCloseStatus = _socket.CloseStatus;
                    BtpLog.PeerClosed(_logger, PeerId, _socket.CloseStatus);
                    await SendCloseAsync(_socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, "closing").ConfigureAwait(false);
                    return "peer closed";
                case FrameKind.TooBig:
                    BtpLog.FrameTooBig(_logger, PeerId, _limits.MaxFrameBytes);
                    return await FailAsync(WebSocketCloseStatus.MessageTooBig, "frame too big").ConfigureAwait(false);
                case FrameKind.Text:
                    BtpLog.TextMessage(_logger, PeerId);
                    return await FailAsync(WebSocketCloseStatus.InvalidMessageType, "text frames are not BTP").ConfigureAwait(false);
                default:
                    if (!ProcessFrame(buffer.AsMemory(0, frame.Length))) return await RejectMalformedAsync(buffer.AsMemory(0, frame.Length)).ConfigureAwait(false);
                    break;
            }
        }
    }

    /// <summary>Handles one decoded frame; false if it was malformed.</summary>
    private bool ProcessFrame(ReadOnlyMemory<byte> frame)
    {
        // Most frames carry one ILP packet: read in place, no BtpPacket or protocol-data array per frame.
        if (BtpCodec.TryReadIlpFrame(frame, out var type, out uint requestId, out var ilp))
        {
            if (type == BtpPacketType.Response) CompleteIlpResponse(requestId, ilp, frame);
            else DispatchIlp(requestId, ilp);
            return true;
        }
        if (BtpCodec.TryDecode(frame, out var packet, out var error) != OperationStatus.Done)
        {
            BtpLog.MalformedFrame(_logger, PeerId, error ?? "unknown");
            return false;
        }
        switch (packet!.Type)
        {
            case BtpPacketType.Response: CompleteResponse(packet); break;
            case BtpPacketType.Error: CompleteError(packet); break;
            case BtpPacketType.Message: DispatchMessage(packet); break;
            case BtpPacketType.Transfer: DispatchTransfer(packet); break;
            default: BtpLog.UnexpectedPacket(_logger, PeerId, packet.Type, packet.RequestId); break;
        }
        return true;
    }

    private async Task<string> RejectMalformedAsync(ReadOnlyMemory<byte> frame)
    {
        uint requestId = frame.Length > RequestIdOffset + sizeof(uint) - 1
            ? BinaryPrimitives.ReadUInt32BigEndian(frame.Span[RequestIdOffset..]) : 0;
        EnqueuePacket(ErrorPacket(requestId, BtpErrorCodes.InvalidFields, BtpErrorCodes.InvalidFieldsName, "malformed BTP frame"));
        return await FailAsync(WebSocketCloseStatus.ProtocolError, "malformed BTP frame").ConfigureAwait(false);
    }

    /// <summary>Closes because of a protocol violation and waits (bounded) for the peer's close.</summary>
    private async Task<string> FailAsync(WebSocketCloseStatus status, string reason)
    {
        try
        {
            // Bounded: a peer that stopped reading can hold the send side forever.
            await SendCloseAsync(status, reason).WaitAsync(_limits.CloseTimeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Abort();
        }
        await BtpFrameIO.DrainAsync(_socket, null, _limits.CloseTimeout, _time).ConfigureAwait(false);
        return reason;
    }

    private void DispatchMessage(BtpPacket packet)
    {
        if (!packet.TryGetProtocolData(BtpProtocolNames.Ilp, out var ilp))
        {
            if (packet.ProtocolData.Count > 0)
            {
                if (!TryEnterIncoming(packet.RequestId)) return;
                var entry = packet.ProtocolData[0];
                entry = entry with { Data = entry.Data.ToArray() }; // the handler outlives the receive buffer
                _ = Task.Run(() => HandleSubProtocolAsync(packet.RequestId, entry));
                return;
            }
            // No protocol data at all: acknowledge like ilp-plugin-btp does.
            EnqueuePacket(BtpPacket.Response(packet.RequestId));
            return;
        }
        DispatchIlp(packet.RequestId, ilp.Data);
    }

    private void DispatchIlp(uint requestId, ReadOnlyMemory<byte> ilp)
    {
        if (!TryEnterIncoming(requestId)) return;
        byte[] copy = ArrayPool<byte>.Shared.Rent(ilp.Length);
        ilp.Span.CopyTo(copy);
        // Handled on the thread pool so the read loop goes on to the next frame at once (requests run
        // concurrently, bounded by MaxInFlightRequests); one small work item instead of Task.Run's closure + Task.
        ThreadPool.UnsafeQueueUserWorkItem(new IncomingIlp(this, requestId, copy, ilp.Length), preferLocal: true);
    }

    private sealed class IncomingIlp(BtpSession session, uint requestId, byte[] ilp, int length) : IThreadPoolWorkItem
    {
        public void Execute() => _ = session.HandleIlpAsync(requestId, ilp, length);
    }

    private async Task HandleIlpAsync(uint requestId, byte[] ilp, int length)
    {
        try
        {
            var reply = await _handler.HandleIlpAsync(this, ilp.AsMemory(0, length), _lifetime.Token).ConfigureAwait(false);
            // An oversize reply would make the peer drop the whole session.
            if (BtpCodec.GetIlpFrameLength(reply.Length) > _limits.MaxFrameBytes) throw new BtpException("handler reply does not fit in one BTP frame");
            EnqueueIlpFrame(BtpPacketType.Response, requestId, reply.Length, reply, static (frame, r) => r.Span.CopyTo(frame));
        }
        catch (Exception ex)
        {
            ReportHandlerFailure(requestId, ex);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(ilp);
            ExitIncoming();
        }
    }

    private async Task HandleSubProtocolAsync(uint requestId, BtpProtocolData entry)
    {
        try
        {
            BtpPacket response;
            try
            {
                var reply = await _handler.HandleSubProtocolAsync(this, entry, _lifetime.Token).ConfigureAwait(false);
                response = BtpPacket.Response(requestId, reply is { } r ? [r] : null);
                if (!FitsInFrame(response)) throw new BtpException("handler reply does not fit in one BTP frame");
            }
            catch (Exception ex) when (!_closed)
            {
                BtpLog.HandlerFailed(_logger, PeerId, requestId, ex);
                response = ErrorPacket(requestId, BtpErrorCodes.NotAccepted, BtpErrorCodes.NotAcceptedName, ex.Message);
            }
            EnqueuePacket(response);
        }
        finally
        {
            ExitIncoming();
        }
    }

    private void DispatchTransfer(BtpPacket packet)
    {
        if (!TryEnterIncoming(packet.RequestId)) return;
        // Copy: the handler may outlive the receive buffer.
        var protocolData = packet.ProtocolData.Select(p => p with { Data = p.Data.ToArray() }).ToArray();
        _ = Task.Run(() => HandleTransferAsync(packet.RequestId, packet.Amount, protocolData));
    }

    private async Task HandleTransferAsync(uint requestId, ulong amount, IReadOnlyList<BtpProtocolData> protocolData)
    {
        try
        {
            await _handler.HandleTransferAsync(this, new BtpTransferRequest(requestId, amount, protocolData), _lifetime.Token).ConfigureAwait(false);
            EnqueuePacket(BtpPacket.Response(requestId));
        }
        catch (BtpRefusedException ex)
        {
            // Refused (not booked): F00 with the reason, never an empty RESPONSE (issue 13 defect 1).
            if (!_closed) EnqueuePacket(ErrorPacket(requestId, BtpErrorCodes.NotAccepted, BtpErrorCodes.NotAcceptedName, ex.Message));
        }
        catch (Exception ex)
        {
            ReportHandlerFailure(requestId, ex);
        }
        finally
        {
            ExitIncoming();
        }
    }

    private void ReportHandlerFailure(uint requestId, Exception ex)
    {
        if (_closed) return; // cancellation by shutdown is not a handler bug
        BtpLog.HandlerFailed(_logger, PeerId, requestId, ex);
        EnqueuePacket(ErrorPacket(requestId, BtpErrorCodes.Unreachable, BtpErrorCodes.UnreachableName, HandlerFailedText));
    }

    private bool TryEnterIncoming(uint requestId)
    {
        int inFlight = Interlocked.Increment(ref _incomingInFlight);
        if (Volatile.Read(ref _refusing) != 0)
        {
            // Closing with every request answered (CloseAnsweredAsync): not handled, so not answered.
            Interlocked.Increment(ref _refused);
            ExitIncoming();
            return false;
        }
        if (inFlight <= _limits.MaxInFlightRequests) return true;
        ExitIncoming();
        BtpLog.TooManyInFlight(_logger, PeerId, requestId);
        EnqueuePacket(ErrorPacket(requestId, BtpErrorCodes.Unreachable, BtpErrorCodes.UnreachableName, TooBusyText));
        return false;
    }

    private void ExitIncoming()
    {
        if (Interlocked.Decrement(ref _incomingInFlight) == 0 && Volatile.Read(ref _refusing) != 0) _answered.TrySetResult();
    }
}
