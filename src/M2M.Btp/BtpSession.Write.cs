using System.Buffers;
using System.Collections.Concurrent;
using System.Net.WebSockets;

namespace M2M.Btp;

/// <summary>
/// The write side: frames are encoded into pooled buffers and queued; whoever finds no drainer running
/// writes the queue out in order. The close frame is queued like any other and nothing follows it.
/// Over a <see cref="BtpWebSocket"/>, frames queued together leave in one socket write (see DrainSendQueueAsync).
/// </summary>
public sealed partial class BtpSession
{
    // Outgoing frames, encoded into pooled buffers; one caller at a time drains them (see EnqueueFrame).
    private readonly ConcurrentQueue<OutgoingFrame> _sendQueue = new();
    private int _draining; // 1 while a drainer owns the socket's send side
    private bool _closeWritten; // drainer-only: no frame may follow our close frame
    private bool _sendFailed; // drainer-only: the socket broke; drop what is left
    private int _closeSent;
    private bool _heldUntilStart; // QueueFirst held the send side: Start writes the queue

    /// <summary>
    /// Before <see cref="Start"/> only: queues <paramref name="packet"/> (the auth response) and holds the send
    /// side, so frames queued before Start (a packet routed to a session just registered) follow it.
    /// </summary>
    internal void QueueFirst(BtpPacket packet)
    {
        _heldUntilStart = true;
        Volatile.Write(ref _draining, 1); // nobody becomes the drainer until Start releases it
        EnqueuePacket(packet);
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
        var stream = (_socket as BtpWebSocket)?.Stream;
        do
        {
            bool corked = false;
            while (_sendQueue.TryDequeue(out var frame))
            {
                if (frame.Close is not null)
                {
                    // The close frame is never gathered: once both sides have closed, the WebSocket disposes its
                    // stream right after writing it, which would drop bytes still in the buffer.
                    if (corked) await UncorkAsync(stream!).ConfigureAwait(false);
                    corked = false;
                }
                else if (!corked && stream is not null && !_sendQueue.IsEmpty)
                {
                    // More frames behind this one: gather them and send all with one write (a lone frame goes out at once).
                    stream.Cork();
                    corked = true;
                }
                await WriteFrameAsync(frame).ConfigureAwait(false);
            }
            if (corked) await UncorkAsync(stream!).ConfigureAwait(false);
            Volatile.Write(ref _draining, 0);
            // A frame enqueued after the last TryDequeue saw _draining == 1 and left it to us: take it over.
        }
        while (!_sendQueue.IsEmpty && Interlocked.CompareExchange(ref _draining, 1, 0) == 0);
    }

    private async ValueTask UncorkAsync(CorkableStream stream)
    {
        try
        {
            await stream.UncorkAsync(_lifetime.Token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // As in WriteFrameAsync: the connection is gone; the read loop ends and fails pending requests.
            _sendFailed = true;
            _socket.Abort();
        }
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
}
