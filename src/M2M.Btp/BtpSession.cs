using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace M2M.Btp;

/// <summary>
/// An authenticated BTP connection with one peer, inbound or outbound. Sends ILP packets as
/// request/response MESSAGE pairs, dispatches the peer's requests to an <see cref="IBtpMessageHandler"/>
/// concurrently, and closes on the first protocol violation.
/// </summary>
public sealed class BtpSession : IAsyncDisposable, M2M.Core.Switch.IReplyPath
{
    private const int RequestIdOffset = 1; // BtpPacket header: type byte, then requestId
    private const string HandlerFailedText = "internal error handling the request";
    private const string TooBusyText = "too many in-flight requests";

    private readonly WebSocket _socket;
    private readonly IBtpMessageHandler _handler;
    private readonly BtpLimits _limits;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    // Outgoing frames, encoded into pooled buffers; one caller at a time drains them (see EnqueueFrame).
    private readonly ConcurrentQueue<OutgoingFrame> _sendQueue = new();
    private int _draining; // 1 while a drainer owns the socket's send side
    private bool _closeWritten; // drainer-only: no frame may follow our close frame
    private bool _sendFailed; // drainer-only: the socket broke; drop what is left
    private readonly ConcurrentDictionary<uint, TaskCompletionSource<ReadOnlyMemory<byte>>> _pending = new();
    // Requests sent with SendMessageAsync: their RESPONSE is returned whole, not just its ilp data.
    private readonly ConcurrentDictionary<uint, TaskCompletionSource<BtpPacket>> _pendingMessages = new();
    private readonly CancellationTokenSource _lifetime = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _nextRequestId = RandomNumberGenerator.GetInt32(int.MinValue, int.MaxValue);
    private int _incomingInFlight;
    private int _outgoingInFlight;
    private int _closeSent;
    private volatile bool _closed;

    internal BtpSession(WebSocket socket, string peerId, IBtpMessageHandler handler, BtpLimits limits, ILogger logger, TimeProvider time)
    {
        _socket = socket;
        PeerId = peerId;
        _handler = handler;
        _limits = limits;
        _logger = logger;
        _time = time;
    }

    public string PeerId { get; }

    public bool IsOpen => !_closed && Volatile.Read(ref _closeSent) == 0 && _socket.State == WebSocketState.Open;

    /// <summary>Completes (never faults) once the connection is gone and pending requests have failed.</summary>
    public Task Completion => _completion.Task;

    /// <summary>
    /// Settlement hook for incoming TRANSFER: the peer gets an empty RESPONSE after it returns (the credit must be
    /// durable by then), a BTP ERROR F00 with the reason when it throws <see cref="BtpRefusedException"/>, T00 on
    /// any other failure. Without a hook every TRANSFER is refused (F00): acknowledging a TRANSFER that nobody
    /// books would tell the peer it paid (issue 13 defect 1).
    /// </summary>
    public Func<BtpSession, BtpTransferRequest, ValueTask>? OnTransfer { get; set; }

    /// <summary>
    /// Hook for incoming MESSAGEs that carry no "ilp" data but a named sub-protocol (e.g. "payment-channel-claim"):
    /// called with the session and the first protocol-data entry. The peer gets a RESPONSE carrying the
    /// returned entry (none if null), or a BTP ERROR F00 with the exception's message when the hook throws.
    /// Without a hook such MESSAGEs get an empty RESPONSE.
    /// </summary>
    public Func<BtpSession, BtpProtocolData, ValueTask<BtpProtocolData?>>? OnSubProtocol { get; set; }

    /// <summary>Outgoing requests awaiting a reply (for tests and metrics).</summary>
    internal int PendingRequestCount => _pending.Count + _pendingMessages.Count;

    internal void Start() => _ = Task.Run(ReadLoopAsync);

    /// <summary>
    /// Sends <paramref name="ilpPacket"/> in a MESSAGE and returns the "ilp" data of the matching RESPONSE.
    /// Throws <see cref="BtpRemoteException"/> on a BTP ERROR, <see cref="BtpSessionClosedException"/> if the
    /// session closes, <see cref="OperationCanceledException"/> when <paramref name="ct"/> fires.
    /// </summary>
    public Task<ReadOnlyMemory<byte>> SendIlpAsync(ReadOnlyMemory<byte> ilpPacket, CancellationToken ct = default) =>
        SendIlpAsync(ilpPacket.Length, ilpPacket, static (frame, ilp) => ilp.Span.CopyTo(frame), ct);

    /// <summary>
    /// As <see cref="SendIlpAsync(ReadOnlyMemory{byte}, CancellationToken)"/>, but <paramref name="write"/> writes the
    /// <paramref name="ilpLength"/>-byte ILP packet straight into the pooled frame buffer: no intermediate copy.
    /// It is called at most once, synchronously, before this method returns its task.
    /// </summary>
    public async Task<ReadOnlyMemory<byte>> SendIlpAsync<TState>(int ilpLength, TState state, SpanAction<byte, TState> write, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        ThrowIfClosed();
        if (BtpCodec.GetIlpFrameLength(ilpLength) > _limits.MaxFrameBytes) throw new ArgumentException("ILP packet does not fit in one BTP frame.", nameof(ilpLength));
        if (Interlocked.Increment(ref _outgoingInFlight) > _limits.MaxInFlightRequests)
        {
            Interlocked.Decrement(ref _outgoingInFlight);
            throw new BtpException(TooBusyText);
        }
        var reply = new TaskCompletionSource<ReadOnlyMemory<byte>>(TaskCreationOptions.RunContinuationsAsynchronously);
        uint requestId = ReserveRequestId(reply);
        try
        {
            ThrowIfClosed(); // Shutdown may have drained _pending before our entry was added.
            ct.ThrowIfCancellationRequested();
            using var cancel = ct.UnsafeRegister(static s => ((TaskCompletionSource<ReadOnlyMemory<byte>>)s!).TrySetCanceled(), reply);
            EnqueueIlpFrame(BtpPacketType.Message, requestId, ilpLength, state, write);
            return await reply.Task.ConfigureAwait(false);
        }
        finally
        {
            _pending.TryRemove(KeyValuePair.Create(requestId, reply));
            Interlocked.Decrement(ref _outgoingInFlight);
        }
    }

    /// <summary>
    /// Sends a MESSAGE with <paramref name="protocolData"/> (a sub-protocol other than ilp) and returns the
    /// peer's RESPONSE (its protocol data copied). Throws <see cref="BtpRemoteException"/> on a BTP ERROR,
    /// <see cref="BtpSessionClosedException"/> if the session closes, <see cref="OperationCanceledException"/> on <paramref name="ct"/>.
    /// </summary>
    public Task<BtpPacket> SendMessageAsync(IReadOnlyList<BtpProtocolData> protocolData, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(protocolData);
        return SendRequestAsync(protocolData, static (id, pd) => BtpPacket.Message(id, pd), ct);
    }

    /// <summary>
    /// Sends a TRANSFER of <paramref name="amount"/> (RFC 23: we paid the peer outside ILP) and completes on its
    /// RESPONSE, after which the peer has booked it. Throws as <see cref="SendMessageAsync"/> does.
    /// </summary>
    public Task<BtpPacket> SendTransferAsync(ulong amount, IReadOnlyList<BtpProtocolData> protocolData, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(protocolData);
        return SendRequestAsync((amount, protocolData), static (id, a) => BtpPacket.Transfer(id, a.amount, a.protocolData), ct);
    }

    /// <summary>A MESSAGE or TRANSFER that is not an ILP packet: its whole RESPONSE is returned.</summary>
    private async Task<BtpPacket> SendRequestAsync<TState>(TState state, Func<uint, TState, BtpPacket> build, CancellationToken ct)
    {
        ThrowIfClosed();
        if (!FitsInFrame(build(0, state))) throw new ArgumentException("request does not fit in one BTP frame.", nameof(state));
        if (Interlocked.Increment(ref _outgoingInFlight) > _limits.MaxInFlightRequests)
        {
            Interlocked.Decrement(ref _outgoingInFlight);
            throw new BtpException(TooBusyText);
        }
        var reply = new TaskCompletionSource<BtpPacket>(TaskCreationOptions.RunContinuationsAsynchronously);
        uint requestId;
        while (true)
        {
            requestId = (uint)Interlocked.Increment(ref _nextRequestId);
            if (requestId != 0 && !_pending.ContainsKey(requestId) && _pendingMessages.TryAdd(requestId, reply)) break;
        }
        try
        {
            ThrowIfClosed();
            ct.ThrowIfCancellationRequested();
            using var cancel = ct.Register(static s => ((TaskCompletionSource<BtpPacket>)s!).TrySetCanceled(), reply);
            EnqueuePacket(build(requestId, state));
            return await reply.Task.ConfigureAwait(false);
        }
        finally
        {
            _pendingMessages.TryRemove(KeyValuePair.Create(requestId, reply));
            Interlocked.Decrement(ref _outgoingInFlight);
        }
    }

    /// <summary>Closes with a close handshake; aborts if the peer does not answer within CloseTimeout.</summary>
    public async ValueTask CloseAsync(WebSocketCloseStatus status = WebSocketCloseStatus.NormalClosure,
        string? description = null, CancellationToken ct = default)
    {
        try
        {
            // Both waits bounded: a peer that stopped reading can hold the send side, one that never closes the session.
            await SendCloseAsync(status, description ?? "closing").WaitAsync(_limits.CloseTimeout, _time, ct).ConfigureAwait(false);
            await _completion.Task.WaitAsync(_limits.CloseTimeout, _time, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Abort();
        }
        catch (OperationCanceledException)
        {
            Abort();
            throw;
        }
    }

    public ValueTask DisposeAsync() => CloseAsync();

    /// <summary>Drops the connection without a close handshake.</summary>
    public void Abort()
    {
        _socket.Abort();
        CancelLifetime();
    }

    // ---- reading ----

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

    private void CompleteResponse(BtpPacket packet)
    {
        if (_pendingMessages.TryRemove(packet.RequestId, out var message))
        {
            message.TrySetResult(Copy(packet)); // copy: the receive buffer is reused
            return;
        }
        if (!_pending.TryRemove(packet.RequestId, out var reply))
        {
            BtpLog.UnmatchedReply(_logger, PeerId, packet.Type, packet.RequestId);
            return;
        }
        if (packet.TryGetProtocolData(BtpProtocolNames.Ilp, out var ilp))
            reply.TrySetResult(ilp.Data.ToArray()); // copy: the receive buffer is reused
        else
            reply.TrySetException(new BtpException("RESPONSE carried no ilp protocol data"));
    }

    private void CompleteError(BtpPacket packet)
    {
        if (_pendingMessages.TryRemove(packet.RequestId, out var message))
        {
            message.TrySetException(new BtpRemoteException(packet.Code, packet.Name, packet.TriggeredAt, packet.ErrorData.ToArray()));
            return;
        }
        if (!_pending.TryRemove(packet.RequestId, out var reply))
        {
            BtpLog.UnmatchedReply(_logger, PeerId, packet.Type, packet.RequestId);
            return;
        }
        reply.TrySetException(new BtpRemoteException(packet.Code, packet.Name, packet.TriggeredAt, packet.ErrorData.ToArray()));
    }

    // ---- incoming requests ----

    private void DispatchMessage(BtpPacket packet)
    {
        if (!packet.TryGetProtocolData(BtpProtocolNames.Ilp, out var ilp))
        {
            if (OnSubProtocol is { } hook && packet.ProtocolData.Count > 0)
            {
                if (!TryEnterIncoming(packet.RequestId)) return;
                var entry = packet.ProtocolData[0];
                entry = entry with { Data = entry.Data.ToArray() }; // the hook outlives the receive buffer
                _ = Task.Run(() => HandleSubProtocolAsync(hook, packet.RequestId, entry));
                return;
            }
            // Unknown sub-protocol: acknowledge like ilp-plugin-btp does.
            EnqueuePacket(BtpPacket.Response(packet.RequestId));
            return;
        }
        if (!TryEnterIncoming(packet.RequestId)) return;
        byte[] copy = ArrayPool<byte>.Shared.Rent(ilp.Data.Length);
        ilp.Data.Span.CopyTo(copy);
        // Handled on the thread pool so the read loop goes on to the next frame at once (requests run
        // concurrently, bounded by MaxInFlightRequests); one small work item instead of Task.Run's closure + Task.
        ThreadPool.UnsafeQueueUserWorkItem(new IncomingIlp(this, packet.RequestId, copy, ilp.Data.Length), preferLocal: true);
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
            Interlocked.Decrement(ref _incomingInFlight);
        }
    }

    private async Task HandleSubProtocolAsync(Func<BtpSession, BtpProtocolData, ValueTask<BtpProtocolData?>> hook, uint requestId, BtpProtocolData entry)
    {
        try
        {
            BtpPacket response;
            try
            {
                var reply = await hook(this, entry).ConfigureAwait(false);
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
            Interlocked.Decrement(ref _incomingInFlight);
        }
    }

    private static BtpPacket Copy(BtpPacket packet) => new()
    {
        Type = packet.Type,
        RequestId = packet.RequestId,
        ProtocolData = packet.ProtocolData.Select(p => p with { Data = p.Data.ToArray() }).ToArray(),
    };

    private void DispatchTransfer(BtpPacket packet)
    {
        if (!TryEnterIncoming(packet.RequestId)) return;
        // Copy: the hook may outlive the receive buffer.
        var protocolData = packet.ProtocolData.Select(p => p with { Data = p.Data.ToArray() }).ToArray();
        _ = Task.Run(() => HandleTransferAsync(packet.RequestId, packet.Amount, protocolData));
    }

    private async Task HandleTransferAsync(uint requestId, ulong amount, IReadOnlyList<BtpProtocolData> protocolData)
    {
        try
        {
            if (OnTransfer is not { } hook) throw new BtpRefusedException("TRANSFER is not accepted on this connection");
            await hook(this, new BtpTransferRequest(requestId, amount, protocolData)).ConfigureAwait(false);
            EnqueuePacket(BtpPacket.Response(requestId));
        }
        catch (BtpRefusedException ex)
        {
            if (!_closed) EnqueuePacket(ErrorPacket(requestId, BtpErrorCodes.NotAccepted, BtpErrorCodes.NotAcceptedName, ex.Message));
        }
        catch (Exception ex)
        {
            ReportHandlerFailure(requestId, ex);
        }
        finally
        {
            Interlocked.Decrement(ref _incomingInFlight);
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
        if (Interlocked.Increment(ref _incomingInFlight) <= _limits.MaxInFlightRequests) return true;
        Interlocked.Decrement(ref _incomingInFlight);
        BtpLog.TooManyInFlight(_logger, PeerId, requestId);
        EnqueuePacket(ErrorPacket(requestId, BtpErrorCodes.Unreachable, BtpErrorCodes.UnreachableName, TooBusyText));
        return false;
    }

    // ---- writing ----

    private uint ReserveRequestId(TaskCompletionSource<ReadOnlyMemory<byte>> reply)
    {
        // Terminates: at most MaxInFlightRequests ids are taken out of 2^32.
        while (true)
        {
            uint id = (uint)Interlocked.Increment(ref _nextRequestId);
            if (id != 0 && _pending.TryAdd(id, reply)) return id;
        }
    }

    /// <summary>A RESPONSE or MESSAGE carrying one ILP packet, encoded straight into a pooled frame buffer.</summary>
    private void EnqueueIlpFrame<TState>(BtpPacketType type, uint requestId, int ilpLength, TState state, SpanAction<byte, TState> write)
    {
        int length = BtpCodec.GetIlpFrameLength(ilpLength);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            write(BtpCodec.WriteIlpFrameHeader(type, requestId, ilpLength, buffer), state);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
        EnqueueFrame(new OutgoingFrame(buffer, length, null));
    }

    /// <summary>Queues a frame; never throws for a dead connection (a failed send is the read loop's to handle).</summary>
    private void EnqueuePacket(BtpPacket packet)
    {
        int length = BtpCodec.GetEncodedLength(packet);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        BtpCodec.Encode(packet, buffer.AsSpan(0, length));
        EnqueueFrame(new OutgoingFrame(buffer, length, null));
    }

    /// <summary>
    /// Frames go out in queue order, back to back: whoever finds no drainer running becomes it and writes
    /// everything queued (inline, so an idle session sends at once with no hand-off); others only enqueue.
    /// Replaces a lock taken per frame, whose waiters each needed a wake-up under load.
    /// </summary>
    private void EnqueueFrame(OutgoingFrame frame)
    {
        _sendQueue.Enqueue(frame);
        if (Interlocked.CompareExchange(ref _draining, 1, 0) == 0) _ = DrainSendQueueAsync();
    }

    private async Task DrainSendQueueAsync()
    {
        do
        {
            while (_sendQueue.TryDequeue(out var frame)) await WriteFrameAsync(frame).ConfigureAwait(false);
            Volatile.Write(ref _draining, 0);
            // A frame enqueued after the last TryDequeue saw _draining == 1 and left it to us: take it over.
        }
        while (!_sendQueue.IsEmpty && Interlocked.CompareExchange(ref _draining, 1, 0) == 0);
    }

    private async ValueTask WriteFrameAsync(OutgoingFrame frame)
    {
        try
        {
            if (frame.Close is { } close)
            {
                if (!_closeWritten && !_sendFailed)
                    await BtpFrameIO.CloseOutputQuietlyAsync(_socket, close.Status, close.Description, _lifetime.Token).ConfigureAwait(false);
                _closeWritten = true;
                return;
            }
            if (_closed || _closeWritten || _sendFailed) return; // requests dropped here fail when the session shuts down
            await _socket.SendAsync(frame.Buffer.AsMemory(0, frame.Length), WebSocketMessageType.Binary, endOfMessage: true, _lifetime.Token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The connection is gone (or closing): drop the rest; the read loop ends and fails pending requests.
            // Catch-all on purpose: a dead drainer would leave _draining set and silence the session.
            _sendFailed = true;
            _socket.Abort();
        }
        finally
        {
            if (frame.Buffer is not null) ArrayPool<byte>.Shared.Return(frame.Buffer);
            frame.Close?.Written.TrySetResult();
        }
    }

    /// <summary>Queues the close frame after every frame already queued; completes once it is written (or dropped).</summary>
    private Task SendCloseAsync(WebSocketCloseStatus status, string description)
    {
        if (Interlocked.Exchange(ref _closeSent, 1) != 0) return Task.CompletedTask;
        var close = new CloseRequest(status, description);
        EnqueueFrame(new OutgoingFrame(null, 0, close));
        return close.Written.Task;
    }

    private readonly record struct OutgoingFrame(byte[]? Buffer, int Length, CloseRequest? Close);

    private sealed class CloseRequest(WebSocketCloseStatus status, string description)
    {
        public WebSocketCloseStatus Status => status;
        public string Description => description;
        public TaskCompletionSource Written { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private bool FitsInFrame(BtpPacket packet) => BtpCodec.GetEncodedLength(packet) <= _limits.MaxFrameBytes;

    private BtpPacket ErrorPacket(uint requestId, string code, string name, string text) =>
        BtpPacket.Error(requestId, code, name, _time.GetUtcNow(), text);

    // ---- shutdown ----

    private void Shutdown(string reason)
    {
        _closed = true;
        CancelLifetime();
        var closed = new BtpSessionClosedException(PeerId);
        foreach (var id in _pending.Keys)
        {
            if (_pending.TryRemove(id, out var reply)) reply.TrySetException(closed);
        }
        foreach (var id in _pendingMessages.Keys)
        {
            if (_pendingMessages.TryRemove(id, out var reply)) reply.TrySetException(closed);
        }
        _socket.Dispose();
        BtpLog.ConnectionLost(_logger, PeerId, reason);
        BtpLog.SessionClosed(_logger, PeerId);
        _completion.TrySetResult();
    }

    private void CancelLifetime()
    {
        try
        {
            _lifetime.Cancel();
        }
        catch (AggregateException)
        {
            // A registration threw during abort; the connection is going away regardless.
        }
    }

    private void ThrowIfClosed()
    {
        if (_closed || Volatile.Read(ref _closeSent) != 0) throw new BtpSessionClosedException(PeerId);
    }
}
