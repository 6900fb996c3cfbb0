using System.Net.Http.Headers;
using M2M.Core.Ilp;
using M2M.Core.Switch;
using Microsoft.Extensions.Logging;

namespace M2M.Settlement.Rfc38;

/// <summary>What the peer's engine answered to a relayed message: its bytes, or the Reject that came back instead.</summary>
public sealed record RelayedReply(bool Fulfilled, ReadOnlyMemory<byte> Data, string? RejectCode, string? RejectMessage);

/// <summary>
/// RFC 38 messages between settlement engines, carried as <c>peer.settle</c> Prepares (<see cref="PeerSettle"/>).
/// Outgoing (<see cref="RelayAsync"/>): our engine's bytes to the peer over its live link. Incoming (the packet
/// step): a peer's <c>peer.settle</c> Prepare is handed to our engine for that peer and answered with the engine's
/// reply; it is never routed nor forwarded, and a peer without an engine gets F02.
/// </summary>
public sealed partial class SettlementMessages(HttpClient http, Func<string, Uri?> engineOf, IPeerLinks links, string ilpAddress, TimeProvider time, ILogger log) : IPacketStep
{
    /// <summary>How long a relayed message may take, end to end.</summary>
    public static readonly TimeSpan RelayTimeout = TimeSpan.FromSeconds(30);

    public async Task<RelayedReply> RelayAsync(string peerId, ReadOnlyMemory<byte> message, CancellationToken ct)
    {
        if (!links.TryGetLink(peerId, out var link) || link is null) throw new PeerUnavailableException(peerId, "not connected");
        var now = time.GetUtcNow();
        var expires = DateTimeOffset.FromUnixTimeMilliseconds((now + RelayTimeout).ToUnixTimeMilliseconds());
        var reply = await link.SendPrepareAsync(PeerSettle.CreatePrepare(message, expires), ct).ConfigureAwait(false);
        return reply switch
        {
            IlpFulfill f => new RelayedReply(true, f.Data, null, null),
            IlpReject r => new RelayedReply(false, r.Data, r.Code, r.Message),
            _ => throw new InvalidOperationException("unexpected reply type"),
        };
    }

    /// <summary>Not async: every other packet passes straight on, with no state machine of this step's around the rest of the pipeline.</summary>
    public ValueTask<IlpReply> InvokeAsync(PacketContext context, PacketHandler next) =>
        context.Prepare.Destination != PeerSettle.Destination ? next(context) : HandleAsync(context);

    private async ValueTask<IlpReply> HandleAsync(PacketContext context)
    {
        string peerId = context.Source.Id;
        var engine = engineOf(peerId);
        if (engine is null) return Reject(IlpErrorCode.F02_Unreachable, $"no settlement engine is configured for peer '{peerId}'");
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(engine, $"accounts/{Uri.EscapeDataString(peerId)}/messages"))
            {
                Content = new ReadOnlyMemoryContent(context.Prepare.Data),
            };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/octet-stream"));
            using var timeout = new CancellationTokenSource(context.Prepare.ExpiresAt - time.GetUtcNow() is { TotalMilliseconds: > 0 } left ? left : TimeSpan.FromMilliseconds(1));
            using var response = await http.SendAsync(request, timeout.Token).ConfigureAwait(false);
            var body = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
            if (response.IsSuccessStatusCode) return PeerSettle.CreateFulfill(body);
            LogEngineRefused(peerId, (int)response.StatusCode);
            var code = (int)response.StatusCode is >= 400 and < 500 ? IlpErrorCode.F00_BadRequest : IlpErrorCode.T00_InternalError;
            return new IlpReject { Code = code, TriggeredBy = PeerSettle.Destination, Message = $"settlement engine answered {(int)response.StatusCode}", Data = body };
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            LogEngineUnreachable(peerId, e.Message);
            return new IlpReject { Code = IlpErrorCode.T00_InternalError, TriggeredBy = PeerSettle.Destination, Message = "settlement engine unreachable" };
        }
    }

    private IlpReject Reject(string code, string message) => IlpRejects.Create(code, ilpAddress, message);

    [LoggerMessage(EventId = 5011, Level = LogLevel.Warning, Message = "Settlement engine refused a peer.settle message from {PeerId}: HTTP {Status}")]
    private partial void LogEngineRefused(string peerId, int status);

    [LoggerMessage(EventId = 5012, Level = LogLevel.Warning, Message = "Settlement engine unreachable for a peer.settle message from {PeerId}: {Reason}")]
    private partial void LogEngineUnreachable(string peerId, string reason);
}
