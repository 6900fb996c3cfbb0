using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using M2M.Btp;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Timeouts;

namespace M2M.Server.Http;

/// <summary>
/// The WebSocket middleware's accept (the same 101 response headers, the same request-timeout release), but
/// the WebSocket is a <see cref="BtpWebSocket"/> over Kestrel's upgraded stream, so a session sends the frames
/// queued together in one write instead of one write and pipe flush per frame. A request that cannot be
/// upgraded this way (HTTP/2 extended CONNECT) gets the middleware's WebSocket.
/// </summary>
internal static class BtpWebSocketUpgrade
{
    private const string AcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"; // RFC 6455 section 1.3

    /// <summary>Call after <c>context.WebSockets.IsWebSocketRequest</c> (which validated the handshake headers).</summary>
    public static async Task<WebSocket> AcceptAsync(HttpContext context, TimeSpan keepAliveInterval)
    {
        var upgrade = context.Features.Get<IHttpUpgradeFeature>();
        string? key = context.Request.Headers.SecWebSocketKey;
        if (upgrade is not { IsUpgradableRequest: true } || string.IsNullOrEmpty(key))
            return await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
        var headers = context.Response.Headers;
        headers.Connection = "Upgrade";
        headers.Upgrade = "websocket";
        headers.SecWebSocketAccept = AcceptKey(key);
        var stream = await upgrade.UpgradeAsync().ConfigureAwait(false); // throws InvalidOperationException when refused
        context.Features.Get<IHttpRequestTimeoutFeature>()?.DisableTimeout();
        return BtpWebSocket.CreateFromStream(stream, isServer: true, keepAliveInterval);
    }

    internal static string AcceptKey(string key) =>
        Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + AcceptGuid)));
}
