using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace M2M.Server.Accounts;

/// <summary>
/// Hosted accounts on the HTTP port: the admin API (<c>/admin/accounts</c>, admin token), the
/// account's own API (<c>/accounts/{id}</c>, its token or the admin token; the SSE stream of incoming
/// payments at <c>/accounts/{id}/events</c>), and SPSP (RFC 9): <c>GET /{id}</c> and
/// <c>/.well-known/pay</c> (the account named <c>default</c>) with <c>Accept: application/spsp4+json</c>.
/// </summary>
internal static class AccountEndpoints
{
    public const string SpspMediaType = "application/spsp4+json";
    /// <summary>The account that <c>/.well-known/pay</c> (a bare-host payment pointer) pays.</summary>
    public const string DefaultAccountId = "default";

    public static void MapAccountEndpoints(this IEndpointRouteBuilder app, ConnectorHost host)
    {
        var accounts = host.HostedAccounts;
        app.MapPost("/admin/accounts", async (HttpContext context) =>
        {
            if (Http.AdminTokenFilter.Refuse(context, host.Settings.AdminApiToken) is { } refused) return refused;
            var (body, bad) = await Http.JsonBodies.ReadObjectAsync(context, " {\"id\": \"agent1\", \"assetCode\"?, \"assetScale\"?}").ConfigureAwait(false);
            if (bad is not null) return Http.JsonBodies.Bad(bad);
            if (!body.TryGetProperty("id", out var idElement) || idElement.ValueKind != JsonValueKind.String) return Error(400, "id is required (a string)");
            string? code = body.TryGetProperty("assetCode", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
            byte? scale = null;
            if (body.TryGetProperty("assetScale", out var s) && s.ValueKind != JsonValueKind.Null)
            {
                if (!s.TryGetByte(out byte sv)) return Error(400, "assetScale must be a whole number from 0 to 18");
                scale = sv;
            }
            return await Guard(async () =>
            {
                var (record, token) = await accounts.CreateAsync(idElement.GetString()!, code, scale, context.RequestAborted).ConfigureAwait(false);
                var view = await accounts.ViewAsync(record, context.RequestAborted).ConfigureAwait(false);
                return Results.Json(new
                {
                    view.Id, view.IlpAddress, view.AssetCode, view.AssetScale, view.Balance, created = token is not null,
                    paymentPointer = PaymentPointer(context, view.Id), token,
                    tokenNote = token is null ? "the token was shown when the account was created; it is stored hashed and cannot be shown again" : "shown once: store it now",
                }, statusCode: token is null ? 200 : 201);
            }).ConfigureAwait(false);
        });
        app.MapGet("/admin/accounts", async (HttpContext context) =>
            Http.AdminTokenFilter.Refuse(context, host.Settings.AdminApiToken) ?? Results.Json(await accounts.ListAsync(context.RequestAborted).ConfigureAwait(false)));
        app.MapGet("/admin/accounts/{id}", async (HttpContext context, string id) =>
            Http.AdminTokenFilter.Refuse(context, host.Settings.AdminApiToken) ?? await ViewOrNotFound(accounts, id, context).ConfigureAwait(false));
        app.MapDelete("/admin/accounts/{id}", async (HttpContext context, string id) =>
        {
            if (Http.AdminTokenFilter.Refuse(context, host.Settings.AdminApiToken) is { } refused) return refused;
            return await Guard(async () => Results.Json(new { id, deleted = await accounts.DeleteAsync(id, context.RequestAborted).ConfigureAwait(false) })).ConfigureAwait(false);
        });
        app.MapGet("/accounts/{id}", async (HttpContext context, string id) =>
            RefuseAccount(context, host, id) ?? await ViewOrNotFound(accounts, id, context).ConfigureAwait(false));
        app.MapGet("/accounts/{id}/events", (HttpContext context, string id) => RefuseAccount(context, host, id) is { } refused
            ? refused.ExecuteAsync(context) : StreamEventsAsync(context, accounts, id));
        app.MapPaymentEndpoints(host);
        MapSpsp(app, host);
    }

    /// <summary>SPSP (RFC 9): a fresh destination address and shared secret per request; CORS open (payment pointers are public).</summary>
    private static void MapSpsp(IEndpointRouteBuilder app, ConnectorHost host)
    {
        app.MapMethods("/{id}", ["OPTIONS"], (HttpContext context) => Preflight(context));
        app.MapMethods("/.well-known/pay", ["OPTIONS"], (HttpContext context) => Preflight(context));
        app.MapGet("/.well-known/pay", (HttpContext context) => Spsp(context, host, DefaultAccountId));
        app.MapGet("/{id}", (HttpContext context, string id) => Spsp(context, host, id));
    }

    private static IResult Spsp(HttpContext context, ConnectorHost host, string id)
    {
        Cors(context);
        if (!context.Request.Headers.Accept.ToString().Contains(SpspMediaType, StringComparison.OrdinalIgnoreCase))
            return Error(406, $"SPSP answers Accept: {SpspMediaType}");
        if (!host.HostedAccounts.TryGet(id, out var account) || account is null) return Error(404, $"no account '{id}'");
        string? tag = context.Request.Query["tag"].FirstOrDefault();
        if (ReceiptKeysOf(context.Request, out string? receiptError) is var receipts && receiptError is not null) return Error(400, receiptError);
        (string destination, byte[] secret) pair;
        try
        {
            pair = host.HostedAccounts.Receiver.GenerateAddressAndSecret(host.HostedAccounts.AddressOf(id), id, tag, receipts);
        }
        catch (ArgumentException e)
        {
            return Error(400, e.Message);
        }
        context.Response.Headers.CacheControl = "no-store";
        return Results.Text(JsonSerializer.Serialize(new SpspResponse(pair.destination, Convert.ToBase64String(pair.secret), receipts is not null)), SpspMediaType, Encoding.UTF8);
    }

    /// <summary>RFC 39: Receipt-Nonce (16 bytes) and Receipt-Secret (32 bytes), base64, both or neither.</summary>
    private static Core.Stream.ReceiptKeys? ReceiptKeysOf(HttpRequest request, out string? error)
    {
        error = null;
        string? nonce = request.Headers["Receipt-Nonce"].FirstOrDefault(), secret = request.Headers["Receipt-Secret"].FirstOrDefault();
        if (nonce is null && secret is null) return null;
        try
        {
            byte[] n = Convert.FromBase64String(nonce ?? ""), s = Convert.FromBase64String(secret ?? "");
            if (n.Length == Core.Stream.ReceiptKeys.NonceLength && s.Length == Core.Stream.ReceiptKeys.SecretLength) return new Core.Stream.ReceiptKeys(n, s);
        }
        catch (FormatException)
        {
            // reported below
        }
        error = "Receipt-Nonce (16 bytes) and Receipt-Secret (32 bytes) must both be given, base64";
        return null;
    }

    private sealed record SpspResponse(
        [property: System.Text.Json.Serialization.JsonPropertyName("destination_account")] string DestinationAccount,
        [property: System.Text.Json.Serialization.JsonPropertyName("shared_secret")] string SharedSecret,
        [property: System.Text.Json.Serialization.JsonPropertyName("receipts_enabled")] bool ReceiptsEnabled);

    private static IResult Preflight(HttpContext context)
    {
        Cors(context);
        context.Response.Headers.AccessControlAllowMethods = "GET, OPTIONS";
        context.Response.Headers.AccessControlAllowHeaders = "Accept, Web-Monetization-Id, Receipt-Nonce, Receipt-Secret";
        context.Response.Headers.AccessControlMaxAge = "86400";
        return Results.NoContent();
    }

    private static void Cors(HttpContext context) => context.Response.Headers.AccessControlAllowOrigin = "*";

    /// <summary>Server-Sent Events: one <c>event: payment</c> per packet of money received, as JSON; a comment line every 15 s keeps proxies open.</summary>
    private static async Task StreamEventsAsync(HttpContext context, HostedAccounts accounts, string id)
    {
        if (!accounts.TryGet(id, out _))
        {
            await Error(404, $"no account '{id}'").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        using var subscription = accounts.Incoming.Subscribe(id);
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-store";
        await context.Response.WriteAsync(": subscribed\n\n", context.RequestAborted).ConfigureAwait(false);
        await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        var ct = context.RequestAborted;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                using var beat = CancellationTokenSource.CreateLinkedTokenSource(ct);
                beat.CancelAfter(TimeSpan.FromSeconds(15));
                string chunk;
                try
                {
                    var e = await subscription.Reader.ReadAsync(beat.Token).ConfigureAwait(false);
                    chunk = $"id: {e.Seq}\nevent: payment\ndata: {JsonSerializer.Serialize(e, JsonSerializerOptions.Web)}\n\n";
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    chunk = ": keep-alive\n\n";
                }
                await context.Response.WriteAsync(chunk, ct).ConfigureAwait(false);
                await context.Response.Body.FlushAsync(ct).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or System.Threading.Channels.ChannelClosedException)
        {
            // client went away or the connector is stopping
        }
    }

    private static async Task<IResult> ViewOrNotFound(HostedAccounts accounts, string id, HttpContext context)
    {
        var record = accounts.Store.Get(id);
        return record is null ? Error(404, $"no account '{id}'") : Results.Json(await accounts.ViewAsync(record, context.RequestAborted).ConfigureAwait(false));
    }

    /// <summary>The account's own token or the admin token; 401 otherwise (404 is not told apart, so ids cannot be probed).</summary>
    internal static IResult? RefuseAccount(HttpContext context, ConnectorHost host, string id)
    {
        string header = context.Request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            string token = header[scheme.Length..].Trim();
            if (host.HostedAccounts.Store.TokenMatches(id, token)) return null;
            if (host.Settings.AdminApiToken is { Length: > 0 } admin
                && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(token), Encoding.UTF8.GetBytes(admin))) return null;
        }
        return Error(401, "missing or wrong bearer token (the account's token or the admin token)");
    }

    /// <summary>https://host/id as the operator's clients see it (X-Forwarded-Host/Proto behind TLS termination), as a $pointer.</summary>
    internal static string PaymentPointer(HttpContext context, string id)
    {
        string host = context.Request.Headers["X-Forwarded-Host"].FirstOrDefault() is { Length: > 0 } fh ? fh : context.Request.Host.ToString();
        return $"${host}/{id}";
    }

    internal static async Task<IResult> Guard(Func<Task<IResult>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (HostedAccountException e)
        {
            return Error(e.Status, e.Message);
        }
    }

    internal static IResult Error(int status, string message) => Http.JsonBodies.Error(status, message);
}
