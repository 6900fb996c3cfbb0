using System.Buffers;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Logging;

namespace M2M.Btp;

/// <summary>
/// Server side of BTP auth (RFC 23 + ilp-plugin-btp convention): the first frame must be a MESSAGE
/// whose first protocol data is "auth", carrying "auth_username" (may be empty) and "auth_token".
/// </summary>
public static class BtpServerHandshake
{
    private const string GenericRejection = "invalid auth credentials";
    private const string TooManyFailures = "too many failed auth attempts from this address; try again later";

    /// <summary>The optional failure limiter, the address it is keyed on, the connection's place in the connection gate, and who registers the session.</summary>
    private readonly record struct AuthGuard(BtpAuthLimiter? Limiter, string Source, BtpConnectionGate.Ticket? Ticket, Action<BtpSession>? Attach);
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Authenticates the peer and returns a running session, or null after rejecting it
    /// (BTP ERROR F00 + close 1008). Token comparison is up to <paramref name="authenticate"/>, which
    /// must compare in constant time; the token is never logged nor echoed back. With a
    /// <paramref name="limiter"/>, a <paramref name="source"/> (remote address) that failed too often
    /// is refused before the comparison, and every failure is counted against it (per username, see
    /// <see cref="BtpAuthLimiter"/>); a timeout counts too. With a <paramref name="ticket"/> from the
    /// <see cref="BtpConnectionGate"/>, its auth timeout applies and the ticket learns the outcome.
    /// <paramref name="attach"/> registers the new session (the connector's peer table) before the auth
    /// response can reach the peer: the response is the first frame in the session's send queue, which
    /// is written only after <paramref name="attach"/> returns, so a peer that sees its auth succeed is
    /// already reachable (frames sent to it meanwhile queue behind the response).
    /// </summary>
    public static async Task<BtpSession?> AcceptAsync(WebSocket socket, BtpAuthenticator authenticate,
        IBtpMessageHandler handler, BtpLimits limits, ILogger logger, CancellationToken ct,
        BtpAuthLimiter? limiter = null, string? source = null, BtpConnectionGate.Ticket? ticket = null,
        Action<BtpSession>? attach = null)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(authenticate);
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentNullException.ThrowIfNull(logger);
        var buffer = new StrongBox<byte[]>(ArrayPool<byte>.Shared.Rent(BtpFrameIO.FirstReceiveBytes));
        try
        {
            var guard = new AuthGuard(limiter, source ?? "unknown", ticket, attach);
            if (ticket is not null) limits = limits with { AuthTimeout = ticket.AuthTimeout };
            return await AcceptWithBufferAsync(socket, buffer, authenticate, handler, limits, logger, guard, ct).ConfigureAwait(false);
        }
        finally
        {
            BtpFrameIO.Return(buffer.Value!); // every receive into it has completed by now
        }
    }

    private static async Task<BtpSession?> AcceptWithBufferAsync(WebSocket socket, StrongBox<byte[]> buffer, BtpAuthenticator authenticate,
        IBtpMessageHandler handler, BtpLimits limits, ILogger logger, AuthGuard guard, CancellationToken ct)
    {
        var time = TimeProvider.System;
        // Not cancelled on timeout: cancelling a receive aborts the socket, and we still want to send an ERROR.
        var receive = BtpFrameIO.ReceiveGrowingAsync(socket, buffer, limits.MaxFrameBytes, CancellationToken.None);
        using var stopTimer = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var timeout = Task.Delay(limits.AuthTimeout, time, stopTimer.Token);
        var first = await Task.WhenAny(receive, timeout).ConfigureAwait(false);
        await stopTimer.CancelAsync().ConfigureAwait(false);
        if (first != receive)
        {
            if (ct.IsCancellationRequested)
            {
                socket.Abort();
                await BtpFrameIO.DrainAsync(socket, receive, TimeSpan.Zero, time).ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
            }
            // Counted, not logged per connection: 10,000 idle sockets are one summary line (BtpConnectionGate).
            BtpLog.AuthTimedOut(logger, limits.AuthTimeout);
            guard.Limiter?.RecordTimeout(guard.Source);
            guard.Ticket?.TimedOut();
            await RejectAsync(socket, 0, "auth timeout", receive, limits, time).ConfigureAwait(false);
            return null;
        }
        var frame = await ObserveAsync(receive).ConfigureAwait(false);
        return frame is { } f
            ? await CompleteAuthAsync(socket, buffer.Value!.AsMemory(0, f.Length), f.Kind, authenticate, handler, limits, logger, guard, time).ConfigureAwait(false)
            : null;
    }

    private static async Task<ReceivedFrame?> ObserveAsync(Task<ReceivedFrame> receive)
    {
        try
        {
            return await receive.ConfigureAwait(false);
        }
        catch (Exception ex) when (BtpFrameIO.IsConnectionError(ex))
        {
            return null;
        }
    }

    private static async Task<BtpSession?> CompleteAuthAsync(WebSocket socket, ReadOnlyMemory<byte> frame, FrameKind kind,
        BtpAuthenticator authenticate, IBtpMessageHandler handler, BtpLimits limits, ILogger logger, AuthGuard guard, TimeProvider time)
    {
        if (kind == FrameKind.Closed) return null;
        if (kind == FrameKind.TooBig)
        {
            await BtpFrameIO.CloseOutputQuietlyAsync(socket, WebSocketCloseStatus.MessageTooBig, "frame too big", CancellationToken.None).ConfigureAwait(false);
            await BtpFrameIO.DrainAsync(socket, null, limits.CloseTimeout, time).ConfigureAwait(false);
            return null;
        }
        // Decoding is cheap and bounded; the username picks the limiter's key. A blocked key is refused
        // before any token comparison, with no per-attempt log line.
        BtpPacket? packet = null;
        string username = "", token = "";
        string? problem = kind != FrameKind.Binary || BtpCodec.TryDecode(frame, out packet, out _) != OperationStatus.Done
            ? "first frame is not a valid BTP packet"
            : ParseAuth(packet!, out username, out token);
        string user = problem is null ? username : BtpAuthLimiter.UnknownUser;
        if (guard.Limiter is { } limiter && !limiter.TryBegin(guard.Source, user, out bool firstRefusal))
        {
            // Only a configured peer id is named: an unknown "username" may be a misplaced secret.
            string key = limiter.UserKey(user) is var k && k == BtpAuthLimiter.UnknownUser ? "unknown usernames" : $"user '{k}'";
            if (firstRefusal) BtpLog.AuthSourceBlocked(logger, key, guard.Source, limiter.MaxFailures, limiter.Window);
            await RejectAsync(socket, packet?.RequestId ?? 0, TooManyFailures, null, limits, time).ConfigureAwait(false);
            return null;
        }
        if (problem is not null)
            return await RejectLoggedAsync(socket, packet?.RequestId ?? 0, problem, user, limits, logger, guard, time).ConfigureAwait(false);

        string? peerId = Authenticate(authenticate, username, token, logger);
        if (peerId is null)
            return await RejectLoggedAsync(socket, packet!.RequestId, GenericRejection, user, limits, logger, guard, time).ConfigureAwait(false);

        guard.Limiter?.RecordSuccess(guard.Source, username);
        guard.Ticket?.Authenticated();
        BtpLog.AuthSucceeded(logger, peerId, username);
        // The auth response is queued first but written only once the session is registered (no window in
        // which the peer is logged in but a packet routed to it finds no session). A peer that stops reading
        // is the session's to handle from here, as for any frame (ping timeout, close timeout).
        var session = new BtpSession(socket, peerId, handler, limits, logger, time);
        session.QueueFirst(BtpPacket.Response(packet!.RequestId));
        try
        {
            guard.Attach?.Invoke(session);
        }
        finally
        {
            session.Start(); // writes the queue (the response first) and starts reading
        }
        return session;
    }

    /// <summary>Returns null if the packet is a well-formed auth request, else the rejection reason.</summary>
    internal static string? ParseAuth(BtpPacket packet, out string username, out string token)
    {
        username = "";
        token = "";
        if (packet.Type != BtpPacketType.Message || packet.ProtocolData.Count == 0
            || packet.ProtocolData[0].ProtocolName != BtpProtocolNames.Auth)
            return "first packet must be an auth MESSAGE";
        if (packet.TryGetProtocolData(BtpProtocolNames.AuthUsername, out var user) && !TryUtf8(user.Data, out username))
            return "auth_username is not valid UTF-8";
        if (!packet.TryGetProtocolData(BtpProtocolNames.AuthToken, out var tok)) return "auth_token protocol data is required";
        if (!TryUtf8(tok.Data, out token)) return "auth_token is not valid UTF-8";
        return null;
    }

    private static string? Authenticate(BtpAuthenticator authenticate, string username, string token, ILogger logger)
    {
        try
        {
            return authenticate(username, token);
        }
        catch (Exception ex)
        {
            BtpLog.AuthenticatorFailed(logger, username, ex);
            return null;
        }
    }

    private static bool TryUtf8(ReadOnlyMemory<byte> bytes, out string text)
    {
        try
        {
            text = StrictUtf8.GetString(bytes.Span);
            return true;
        }
        catch (ArgumentException)
        {
            text = "";
            return false;
        }
    }

    private static async Task<BtpSession?> RejectLoggedAsync(WebSocket socket, uint requestId, string reason, string username,
        BtpLimits limits, ILogger logger, AuthGuard guard, TimeProvider time)
    {
        guard.Limiter?.RecordFailure(guard.Source, username);
        // The source, not the username: an unauthenticated username may be anything, even a mistyped secret.
        BtpLog.AuthRejected(logger, guard.Source, reason);
        await RejectAsync(socket, requestId, reason, null, limits, time).ConfigureAwait(false);
        return null;
    }

    /// <summary>ERROR F00 with <paramref name="reason"/> (never the token), then close 1008.</summary>
    private static async Task RejectAsync(WebSocket socket, uint requestId, string reason, Task? pendingReceive,
        BtpLimits limits, TimeProvider time)
    {
        var error = BtpPacket.Error(requestId, BtpErrorCodes.NotAccepted, BtpErrorCodes.NotAcceptedName, time.GetUtcNow(), reason);
        using var timeout = new CancellationTokenSource(limits.CloseTimeout, time);
        try
        {
            await BtpFrameIO.SendAsync(socket, error, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (BtpFrameIO.IsConnectionError(ex))
        {
        }
        await BtpFrameIO.CloseOutputQuietlyAsync(socket, WebSocketCloseStatus.PolicyViolation, reason, timeout.Token).ConfigureAwait(false);
        await BtpFrameIO.DrainAsync(socket, pendingReceive, limits.CloseTimeout, time).ConfigureAwait(false);
    }
}
