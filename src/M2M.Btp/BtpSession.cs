using System.Net.WebSockets;
using Microsoft.Extensions.Logging;

namespace M2M.Btp;

/// <summary>
/// An authenticated BTP connection with one peer, inbound or outbound. Sends ILP packets as
/// request/response MESSAGE pairs, dispatches the peer's requests to the <see cref="IBtpMessageHandler"/>
/// given when the session is created (before its read loop starts, so no frame can arrive ahead of its
/// handler), and closes on the first protocol violation. In parts: <c>BtpSession.Read.cs</c> (read loop,
/// incoming requests), <c>BtpSession.Write.cs</c> (send queue), <c>BtpSession.Requests.cs</c> (our
/// requests and the one map of pending replies).
/// </summary>
public sealed partial class BtpSession : IAsyncDisposable, M2M.Core.Switch.IReplyPath
{
    private const int RequestIdOffset = 1; // BtpPacket header: type byte, then requestId
    private const string HandlerFailedText = "internal error handling the request";
    private const string TooBusyText = "too many in-flight requests";

    private readonly WebSocket _socket;
    private readonly IBtpMessageHandler _handler;
    private readonly BtpLimits _limits;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _closed;
    private int _refusing; // 1 once CloseAnsweredAsync began: requests read from now on are not handled (see there)
    private int _refused;
    private readonly TaskCompletionSource _answered = new(TaskCreationOptions.RunContinuationsAsynchronously);

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

    /// <summary>The close status the peer sent (its close or its answer to ours), once it did; null before.</summary>
    public WebSocketCloseStatus? PeerCloseStatus { get; private set; }

    /// <summary>Completes (never faults) once the connection is gone and pending requests have failed.</summary>
    public Task Completion => _completion.Task;

    internal void Start()
    {
        if (_heldUntilStart) _ = DrainSendQueueAsync(); // owns the send side QueueFirst held
        _ = Task.Run(ReadLoopAsync);
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

    /// <summary>
    /// Closes once every request the peer sent so far is answered (a drain uses it, with
    /// <see cref="WebSocketCloseStatus.EndpointUnavailable"/>): from this call on, requests read are not
    /// handled and not answered; those being handled finish (waited for up to CloseTimeout) and their
    /// replies are queued ahead of the close frame. So a request of the peer's that the close finds
    /// unanswered was never handled here: safe for the peer to send again elsewhere. Requests that
    /// arrive after the close began are counted and logged when the session ends.
    /// </summary>
    public async ValueTask CloseAnsweredAsync(WebSocketCloseStatus status, string description, CancellationToken ct = default)
    {
        // Full fences on both sides (here and in TryEnterIncoming): one of the two sees the other's write.
        Interlocked.Exchange(ref _refusing, 1);
        if (Volatile.Read(ref _incomingInFlight) == 0) _answered.TrySetResult();
        try
        {
            await _answered.Task.WaitAsync(_limits.CloseTimeout, _time, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A handler still running after CloseTimeout: close anyway; its reply is lost with the session.
        }
        await CloseAsync(status, description, ct).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => CloseAsync();

    /// <summary>Drops the connection without a close handshake.</summary>
    public void Abort()
    {
        _socket.Abort();
        CancelLifetime();
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
        FailPending(closed);
        _socket.Dispose();
        if (Volatile.Read(ref _refused) is > 0 and var refused) BtpLog.RefusedWhileClosing(_logger, PeerId, refused);
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
