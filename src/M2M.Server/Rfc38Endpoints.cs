using System.Globalization;
using System.Text.Json;
using M2M.Core.Switch;
using M2M.Server.Http;
using M2M.Settlement.Rfc38;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace M2M.Server;

/// <summary>
/// The RFC 38 accounting-system API (settlement engine → connector), on the HTTP port behind the admin token:
/// POST /accounts/{peerId}/settlements credits an incoming settlement (Idempotency-Key required);
/// POST /accounts/{peerId}/messages relays the engine's bytes to the peer as a peer.settle Prepare.
/// </summary>
internal static class Rfc38Endpoints
{
    /// <summary>ILP data is at most 32,767 bytes, so is a relayed message.</summary>
    private const int MaxMessageBytes = 32_767;

    public static void MapRfc38Endpoints(this IEndpointRouteBuilder app)
    {
        var admin = app.MapAdminGroup();
        admin.MapPost("/accounts/{peerId}/settlements", async (HttpContext context, string peerId, ConnectorHost host) =>
        {
            JsonElement body;
            try
            {
                body = (await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted).ConfigureAwait(false)).RootElement;
            }
            catch (JsonException)
            {
                return Error(StatusCodes.Status400BadRequest, "body must be JSON {\"amount\": \"<integer string>\", \"scale\": <0..255>}");
            }
            if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("amount", out var amount) || amount.ValueKind != JsonValueKind.String
                || !body.TryGetProperty("scale", out var scale) || !scale.TryGetInt32(out int scaleValue))
                return Error(StatusCodes.Status400BadRequest, "body must be JSON {\"amount\": \"<integer string>\", \"scale\": <0..255>}");
            try
            {
                var credit = await host.Rfc38.Incoming.CreditAsync(peerId, context.Request.Headers["Idempotency-Key"].ToString(), amount.GetString()!, scaleValue, context.RequestAborted).ConfigureAwait(false);
                return Results.Json(new { amount = credit.Credited.ToString(CultureInfo.InvariantCulture), scale = (int)credit.Scale }, statusCode: StatusCodes.Status201Created);
            }
            catch (IncomingSettlementException e)
            {
                return Error(StatusCodes.Status400BadRequest, e.Message);
            }
        });
        admin.MapPost("/accounts/{peerId}/messages", async (HttpContext context, string peerId, ConnectorHost host) =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted).ConfigureAwait(false);
            if (buffer.Length > MaxMessageBytes) return Error(StatusCodes.Status413PayloadTooLarge, $"a settlement message is at most {MaxMessageBytes} bytes (ILP data)");
            try
            {
                var reply = await host.Rfc38.Messages.RelayAsync(peerId, buffer.ToArray(), context.RequestAborted).ConfigureAwait(false);
                // The peer engine's answer (Fulfill data) with 201, or the Reject's data with 502 and its code in a header.
                if (!reply.Fulfilled) context.Response.Headers["ILP-Reject-Code"] = reply.RejectCode;
                context.Response.StatusCode = reply.Fulfilled ? StatusCodes.Status201Created : StatusCodes.Status502BadGateway;
                context.Response.ContentType = "application/octet-stream";
                await context.Response.Body.WriteAsync(reply.Data, context.RequestAborted).ConfigureAwait(false);
                return Results.Empty;
            }
            catch (PeerUnavailableException e)
            {
                return Error(StatusCodes.Status503ServiceUnavailable, e.Message);
            }
        });
    }

    private static IResult Error(int status, string message) => JsonBodies.Error(status, message);
}
