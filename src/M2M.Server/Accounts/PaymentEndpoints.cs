using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace M2M.Server.Accounts;

/// <summary>
/// The send API (account token or admin token): <c>POST /accounts/{id}/payments</c>
/// <c>{"receiver": "$host/bob" | "https://…", "sourceAmount": "1000", "clientId": "…"}</c> (the client id may
/// also be the <c>Idempotency-Key</c> header) answers 202 with the payment, or 200 with the existing one for a
/// repeated client id; <c>GET /accounts/{id}/payments/{paymentId}</c> shows its progress.
/// </summary>
internal static class PaymentEndpoints
{
    /// <summary>Longest client id accepted (it is stored and compared, not interpreted).</summary>
    public const int MaxClientIdLength = 128;

    public static void MapPaymentEndpoints(this IEndpointRouteBuilder app, ConnectorHost host)
    {
        app.MapPost("/accounts/{id}/payments", async (HttpContext context, string id) =>
        {
            if (AccountEndpoints.RefuseAccount(context, host, id) is { } refused) return refused;
            var (b, bad) = await Http.JsonBodies.ReadObjectAsync(context, " {\"receiver\", \"sourceAmount\", \"clientId\"?}").ConfigureAwait(false);
            if (bad is not null) return Http.JsonBodies.Bad(bad);
            if (!b.TryGetProperty("receiver", out var r) || r.ValueKind != JsonValueKind.String || r.GetString() is not { Length: > 0 and <= 2048 } receiver)
                return AccountEndpoints.Error(400, "receiver is required: a payment pointer ($host/path) or an http(s) SPSP URL");
            if (b.TryGetProperty("deliveryAmount", out _))
                return AccountEndpoints.Error(400, "deliveryAmount is not supported: this node does no currency exchange; give sourceAmount (what leaves the account)");
            if (Amount(b) is not { } amount) return AccountEndpoints.Error(400, "sourceAmount must be a positive whole number of the account's units (number or decimal string)");
            string clientId = b.TryGetProperty("clientId", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()!
                : context.Request.Headers["Idempotency-Key"].FirstOrDefault() ?? Guid.NewGuid().ToString("N");
            if (clientId.Length is 0 or > MaxClientIdLength) return AccountEndpoints.Error(400, $"clientId must be 1 to {MaxClientIdLength} characters");
            try
            {
                PaymentService.SpspUrl(receiver);
            }
            catch (SpspException e)
            {
                return AccountEndpoints.Error(400, e.Message);
            }
            return await AccountEndpoints.Guard(async () =>
            {
                var (payment, created) = await host.Payments.StartAsync(id, clientId, receiver, amount, context.RequestAborted).ConfigureAwait(false);
                if (!created && (payment.Receiver != receiver || payment.SourceAmount != amount))
                    return AccountEndpoints.Error(409, $"clientId '{clientId}' was used for another payment ({payment.PaymentId})");
                return Results.Json(View(payment), statusCode: created ? StatusCodes.Status202Accepted : StatusCodes.Status200OK);
            }).ConfigureAwait(false);
        });
        app.MapGet("/accounts/{id}/payments/{paymentId}", (HttpContext context, string id, string paymentId) =>
        {
            if (AccountEndpoints.RefuseAccount(context, host, id) is { } refused) return refused;
            var payment = host.HostedAccounts.Store.GetPayment(id, paymentId);
            return payment is null ? AccountEndpoints.Error(404, $"no payment '{paymentId}' from account '{id}'") : Results.Json(View(payment));
        });
    }

    private static ulong? Amount(JsonElement body)
    {
        if (!body.TryGetProperty("sourceAmount", out var a) && !body.TryGetProperty("amount", out a)) return null;
        ulong value = 0;
        bool ok = a.ValueKind switch
        {
            JsonValueKind.Number => a.TryGetUInt64(out value),
            JsonValueKind.String => ulong.TryParse(a.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out value),
            _ => false,
        };
        return ok && value > 0 ? value : null;
    }

    public static object View(PaymentRecord p) => new
    {
        paymentId = p.PaymentId, accountId = p.AccountId, clientId = p.ClientId, receiver = p.Receiver,
        sourceAmount = p.SourceAmount.ToString(CultureInfo.InvariantCulture), sent = p.Sent.ToString(CultureInfo.InvariantCulture),
        delivered = p.Delivered.ToString(CultureInfo.InvariantCulture), inFlight = p.InFlight.ToString(CultureInfo.InvariantCulture),
        state = p.State, error = p.Error, createdAt = p.CreatedAt, updatedAt = p.UpdatedAt,
    };
}
