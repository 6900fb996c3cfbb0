using System.Buffers;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;

namespace M2M.Btp;

internal enum FrameKind { Binary, Text, TooBig, Closed }

internal readonly record struct ReceivedFrame(FrameKind Kind, int Length);

/// <summary>One BTP frame = one binary WebSocket message. Shared by the handshakes and sessions.</summary>
internal static class BtpFrameIO
{
    private const int DrainBufferBytes = 4096;

    /// <summary>Buffer for <see cref="ReceiveAsync"/>: one byte over the limit detects oversize messages.</summary>
    public static byte[] RentReceiveBuffer(BtpLimits limits) => ArrayPool<byte>.Shared.Rent(limits.MaxFrameBytes + 1);

    public static void Return(byte[] buffer) => ArrayPool<byte>.Shared.Return(buffer);

    /// <summary>
    /// Assembles one message into <paramref name="buffer"/>. Stops at <paramref name="maxFrameBytes"/> + 1
    /// bytes (reported as <see cref="FrameKind.TooBig"/>) so an oversize message is never buffered.
    /// Note: cancelling aborts the WebSocket (ManagedWebSocket semantics).
    /// </summary>
    public static async ValueTask<ReceivedFrame> ReceiveAsync(WebSocket socket, byte[] buffer, int maxFrameBytes, CancellationToken ct)
    {
        int count = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(count, maxFrameBytes + 1 - count), ct).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close) return new(FrameKind.Closed, 0);
            if (result.MessageType == WebSocketMessageType.Text) return new(FrameKind.Text, 0);
            count += result.Count;
            if (count > maxFrameBytes) return new(FrameKind.TooBig, count);
            if (result.EndOfMessage) return new(FrameKind.Binary, count);
        }
    }

    /// <summary>Bytes a connection waiting for auth holds: an auth MESSAGE fits; a larger first frame grows the buffer.</summary>
    public const int FirstReceiveBytes = 1024;

    /// <summary>
    /// <see cref="ReceiveAsync"/> that starts in a <see cref="FirstReceiveBytes"/> buffer and rents a full-size one only
    /// when the message outgrows it: 10,000 idle sockets must not pin 10,000 × 128 KiB. <paramref name="buffer"/>
    /// holds the message afterwards; the caller returns it to the pool.
    /// </summary>
    public static async Task<ReceivedFrame> ReceiveGrowingAsync(WebSocket socket, StrongBox<byte[]> buffer, int maxFrameBytes, CancellationToken ct)
    {
        int count = 0, limit = maxFrameBytes + 1;
        while (true)
        {
            if (count == buffer.Value!.Length && count < limit)
            {
                byte[] bigger = ArrayPool<byte>.Shared.Rent(limit);
                buffer.Value.AsSpan(0, count).CopyTo(bigger);
                Return(buffer.Value);
                buffer.Value = bigger;
            }
            var result = await socket.ReceiveAsync(buffer.Value.AsMemory(count, Math.Min(buffer.Value.Length, limit) - count), ct).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close) return new(FrameKind.Closed, 0);
            if (result.MessageType == WebSocketMessageType.Text) return new(FrameKind.Text, 0);
            count += result.Count;
            if (count > maxFrameBytes) return new(FrameKind.TooBig, count);
            if (result.EndOfMessage) return new(FrameKind.Binary, count);
        }
    }

    /// <summary>Encodes into a pooled buffer and sends one binary message. Caller serializes writes.</summary>
    public static async ValueTask SendAsync(WebSocket socket, BtpPacket packet, CancellationToken ct)
    {
        int length = BtpCodec.GetEncodedLength(packet);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            BtpCodec.Encode(packet, buffer.AsSpan(0, length));
            await socket.SendAsync(buffer.AsMemory(0, length), WebSocketMessageType.Binary, endOfMessage: true, ct).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Sends a close frame if we still may; errors mean the connection is gone anyway.</summary>
    public static async Task CloseOutputQuietlyAsync(WebSocket socket, WebSocketCloseStatus status, string description, CancellationToken ct)
    {
        try
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                await socket.CloseOutputAsync(status, description, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsConnectionError(ex))
        {
        }
    }

    /// <summary>
    /// After we sent a close frame: discards incoming data until the peer's close frame arrives, or
    /// aborts the socket after <paramref name="timeout"/>. <paramref name="pending"/> is a receive already in flight.
    /// </summary>
    public static async Task DrainAsync(WebSocket socket, Task? pending, TimeSpan timeout, TimeProvider time)
    {
        using var cts = new CancellationTokenSource(timeout, time);
        using var abort = cts.Token.Register(static s => ((WebSocket)s!).Abort(), socket);
        byte[] scratch = ArrayPool<byte>.Shared.Rent(DrainBufferBytes);
        try
        {
            if (pending is not null) await pending.ConfigureAwait(false);
            while (socket.State is WebSocketState.Open or WebSocketState.CloseSent)
            {
                var result = await socket.ReceiveAsync(scratch.AsMemory(), cts.Token).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close) break;
            }
        }
        catch (Exception ex) when (IsConnectionError(ex))
        {
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    public static bool IsConnectionError(Exception ex) =>
        ex is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException;
}
