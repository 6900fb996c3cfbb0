using System.Net.WebSockets;
using Microsoft.Extensions.Logging;

namespace M2M.Btp;

/// <summary>Source-generated log messages for BTP; event ids 2000–2099. Tokens are never logged.</summary>
internal static partial class BtpLog
{
    [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "BTP peer {PeerId} authenticated (user '{AuthUsername}')")]
    public static partial void AuthSucceeded(ILogger logger, string peerId, string authUsername);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "BTP auth rejected from {Source}: {Reason}")]
    public static partial void AuthRejected(ILogger logger, string source, string reason);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Debug, Message = "BTP auth timed out after {Timeout}")]
    public static partial void AuthTimedOut(ILogger logger, TimeSpan timeout);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Error, Message = "BTP authenticator threw for user '{AuthUsername}'")]
    public static partial void AuthenticatorFailed(ILogger logger, string authUsername, Exception exception);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "BTP auth for {Key} from {Source} blocked: {MaxFailures} failed attempts within {Window}; refusing those attempts before the token check for now")]
    public static partial void AuthSourceBlocked(ILogger logger, string key, string source, int maxFailures, TimeSpan window);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Information, Message = "BTP session {PeerId} closed")]
    public static partial void SessionClosed(ILogger logger, string peerId);

    [LoggerMessage(EventId = 2020, Level = LogLevel.Information, Message = "BTP session {PeerId}: {Count} requests arrived after the close began and were not handled (the peer sees them fail with the session)")]
    public static partial void RefusedWhileClosing(ILogger logger, string peerId, int count);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning, Message = "BTP session {PeerId}: malformed frame ({Error}); closing")]
    public static partial void MalformedFrame(ILogger logger, string peerId, string error);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Warning, Message = "BTP session {PeerId}: frame over {MaxFrameBytes} bytes; closing")]
    public static partial void FrameTooBig(ILogger logger, string peerId, int maxFrameBytes);

    [LoggerMessage(EventId = 2013, Level = LogLevel.Warning, Message = "BTP session {PeerId}: text WebSocket message; closing")]
    public static partial void TextMessage(ILogger logger, string peerId);

    [LoggerMessage(EventId = 2014, Level = LogLevel.Debug, Message = "BTP session {PeerId}: {Type} for unknown request {RequestId}")]
    public static partial void UnmatchedReply(ILogger logger, string peerId, BtpPacketType type, uint requestId);

    [LoggerMessage(EventId = 2015, Level = LogLevel.Error, Message = "BTP session {PeerId}: handler failed for request {RequestId}")]
    public static partial void HandlerFailed(ILogger logger, string peerId, uint requestId, Exception exception);

    [LoggerMessage(EventId = 2016, Level = LogLevel.Warning, Message = "BTP session {PeerId}: too many in-flight requests; rejecting {RequestId}")]
    public static partial void TooManyInFlight(ILogger logger, string peerId, uint requestId);

    [LoggerMessage(EventId = 2017, Level = LogLevel.Debug, Message = "BTP session {PeerId}: connection ended ({Reason})")]
    public static partial void ConnectionLost(ILogger logger, string peerId, string reason);

    [LoggerMessage(EventId = 2018, Level = LogLevel.Debug, Message = "BTP session {PeerId}: peer closed with {Status}")]
    public static partial void PeerClosed(ILogger logger, string peerId, WebSocketCloseStatus? status);

    [LoggerMessage(EventId = 2019, Level = LogLevel.Debug, Message = "BTP session {PeerId}: ignoring unexpected {Type} request {RequestId}")]
    public static partial void UnexpectedPacket(ILogger logger, string peerId, BtpPacketType type, uint requestId);

    [LoggerMessage(EventId = 2030, Level = LogLevel.Information, Message = "BTP client {PeerId} connecting to {Url}")]
    public static partial void Connecting(ILogger logger, string peerId, string url);

    [LoggerMessage(EventId = 2031, Level = LogLevel.Information, Message = "BTP client {PeerId} connected")]
    public static partial void Connected(ILogger logger, string peerId);

    [LoggerMessage(EventId = 2032, Level = LogLevel.Warning, Message = "BTP client {PeerId}: connect failed ({Reason}); retrying in {Delay}")]
    public static partial void ConnectFailed(ILogger logger, string peerId, string reason, TimeSpan delay);

    [LoggerMessage(EventId = 2033, Level = LogLevel.Warning, Message = "BTP client {PeerId}: auth rejected by server: {Code} {Name} {Data}")]
    public static partial void ClientAuthRejected(ILogger logger, string peerId, string code, string name, string data);

    [LoggerMessage(EventId = 2034, Level = LogLevel.Information, Message = "BTP client {PeerId} disconnected")]
    public static partial void Disconnected(ILogger logger, string peerId);

    [LoggerMessage(EventId = 2035, Level = LogLevel.Error, Message = "BTP client {PeerId}: event handler threw")]
    public static partial void EventHandlerFailed(ILogger logger, string peerId, Exception exception);
}
