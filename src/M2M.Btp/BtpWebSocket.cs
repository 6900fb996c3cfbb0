using System.Net.WebSockets;

namespace M2M.Btp;

/// <summary>
/// A WebSocket whose byte stream the BTP session owns the write side of: when several frames are queued
/// for one session, <see cref="BtpSession"/> corks the stream, lets the WebSocket frame them (masking
/// included) into one buffer and sends them with one write (RFC 6455 allows any number of frames per
/// TCP segment). Everything else is the inner WebSocket's. <see cref="BtpClient"/> makes one for each
/// outgoing connection; a server makes one from the upgraded connection's stream with
/// <see cref="CreateFromStream"/>. A plain <see cref="WebSocket"/> still works with BTP: one write per frame.
/// </summary>
public sealed class BtpWebSocket : WebSocket
{
    private readonly WebSocket _inner;
    private readonly IDisposable? _owned;

    internal BtpWebSocket(WebSocket inner, CorkableStream stream, IDisposable? owned)
    {
        _inner = inner;
        Stream = stream;
        _owned = owned;
    }

    internal CorkableStream Stream { get; }

    /// <summary>
    /// Wraps an upgraded connection's stream (after the 101 response, or on the client after the handshake).
    /// </summary>
    public static BtpWebSocket CreateFromStream(Stream stream, bool isServer, TimeSpan keepAliveInterval)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var corkable = new CorkableStream(stream);
        var socket = CreateFromStream(corkable, new WebSocketCreationOptions { IsServer = isServer, KeepAliveInterval = keepAliveInterval });
        return new BtpWebSocket(socket, corkable, null);
    }

    public override WebSocketCloseStatus? CloseStatus => _inner.CloseStatus;
    public override string? CloseStatusDescription => _inner.CloseStatusDescription;
    public override WebSocketState State => _inner.State;
    public override string? SubProtocol => _inner.SubProtocol;

    public override void Abort() => _inner.Abort();

    public override Task CloseAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken) =>
        _inner.CloseAsync(closeStatus, statusDescription, cancellationToken);

    public override Task CloseOutputAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken) =>
        _inner.CloseOutputAsync(closeStatus, statusDescription, cancellationToken);

    public override Task<WebSocketReceiveResult> ReceiveAsync(ArraySegment<byte> buffer, CancellationToken cancellationToken) =>
        _inner.ReceiveAsync(buffer, cancellationToken);

    public override ValueTask<ValueWebSocketReceiveResult> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        _inner.ReceiveAsync(buffer, cancellationToken);

    public override Task SendAsync(ArraySegment<byte> buffer, WebSocketMessageType messageType, bool endOfMessage, CancellationToken cancellationToken) =>
        _inner.SendAsync(buffer, messageType, endOfMessage, cancellationToken);

    public override ValueTask SendAsync(ReadOnlyMemory<byte> buffer, WebSocketMessageType messageType, bool endOfMessage, CancellationToken cancellationToken) =>
        _inner.SendAsync(buffer, messageType, endOfMessage, cancellationToken);

    public override ValueTask SendAsync(ReadOnlyMemory<byte> buffer, WebSocketMessageType messageType, WebSocketMessageFlags messageFlags, CancellationToken cancellationToken) =>
        _inner.SendAsync(buffer, messageType, messageFlags, cancellationToken);

    public override void Dispose()
    {
        _inner.Dispose();
        Stream.Dispose();
        _owned?.Dispose();
    }
}
