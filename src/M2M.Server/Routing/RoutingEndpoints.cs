using System.Text.Json;
using M2M.Core.Ledger;
using M2M.Server.Accounting;
using M2M.Server.Configuration;
using M2M.Server.Http;
using M2M.Server.Peers;
using M2M.Server.Routing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace M2M.Server;

/// <summary>
/// The network admin API (admin token): <c>GET/POST/DELETE /admin/routes</c> (the table, where each route came
/// from, the CCP state per peer; static routes at runtime) and <c>GET/POST/PUT/DELETE /admin/peers</c>.
/// Bodies use the YAML's field names; a bad value is a 400 naming it, as the config loader words it.
/// </summary>
internal static class RoutingEndpoints
{
    private static readonly string[] PeerFields = ["id", "url", "authToken", "relation", "asset", "maxPacketAmount", "creditLimit", "sendRoutes", "receiveRoutes"];
    private static readonly string[] RouteFields = ["prefix", "nextHop", "priority"];

    public static void MapRoutingEndpoints(this IEndpointRouteBuilder app)
    {
        var admin = app.MapAdminGroup();
        admin.MapGet("/admin/routes", (RoutingService routing) => Results.Json(routing.Snapshot()));
        admin.MapPost("/admin/routes", (HttpContext context, ConnectorHost host) => WithBody(context, RouteFields, async body =>
        {
            var route = await host.PutRouteAsync(new RouteSection { Prefix = Text(body, "prefix"), NextHop = Text(body, "nextHop"), Priority = Text(body, "priority") }, context.RequestAborted).ConfigureAwait(false);
            return Results.Json(new { prefix = route.Prefix, nextHop = route.NextHop, priority = route.Priority }, statusCode: StatusCodes.Status201Created);
        }));
        admin.MapDelete("/admin/routes/{prefix}", async (string prefix, ConnectorHost host, CancellationToken ct) =>
        {
            try
            {
                return await host.RemoveRouteAsync(prefix, ct).ConfigureAwait(false) ? Results.NoContent() : Results.Json(new { error = $"no static route '{prefix}'" }, statusCode: StatusCodes.Status404NotFound);
            }
            catch (Npgsql.NpgsqlException e)
            {
                return StoreUnavailable(e);
            }
        });

        admin.MapGet("/admin/peers", async (PeerManager peers, ConnectorLedger accounting, CancellationToken ct) =>
        {
            var list = new List<object>();
            foreach (var p in peers.Configured)
            {
                var a = await accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId(p.Id, PeerAccounts.LedgerFor(p.AssetCode, p.AssetScale)), ct).ConfigureAwait(false);
                list.Add(new
                {
                    id = p.Id, relation = p.Relation.ToString().ToLowerInvariant(), url = p.Url is null ? null : Redact(p.Url),
                    asset = new { code = p.AssetCode, scale = p.AssetScale }, connected = peers.IsConnected(p.Id),
                    maxPacketAmount = p.MaxPacketAmount?.ToString(), creditLimit = p.CreditLimit?.ToString(), p.SendRoutes, p.ReceiveRoutes,
                    balance = a?.PostedBalance.ToString() ?? "0", inFlight = a is null ? "0" : (a.DebitsPending + a.CreditsPending).ToString(),
                });
            }
            return Results.Json(list);
        });
        admin.MapPost("/admin/peers", (HttpContext context, ConnectorHost host) => PutPeer(context, host, null));
        admin.MapPut("/admin/peers/{id}", (string id, HttpContext context, ConnectorHost host) => PutPeer(context, host, id));
        admin.MapDelete("/admin/peers/{id}", async (string id, bool? force, ConnectorHost host, CancellationToken ct) =>
        {
            if (host.Peers.Settings(id) is null) return Results.Json(new { error = $"no peer '{id}'" }, statusCode: StatusCodes.Status404NotFound);
            try
            {
                string? refusal = await host.RemovePeerAsync(id, force == true, ct).ConfigureAwait(false);
                return refusal is null ? Results.NoContent() : Results.Json(new { error = refusal }, statusCode: StatusCodes.Status409Conflict);
            }
            catch (Npgsql.NpgsqlException e)
            {
                return StoreUnavailable(e);
            }
        });
    }

    private static Task<IResult> PutPeer(HttpContext context, ConnectorHost host, string? pathId) => WithBody(context, PeerFields, async body =>
    {
        string? id = Text(body, "id") ?? pathId;
        if (pathId is not null && id != pathId) return Bad($"id: '{id}' is invalid; expected the id in the path, '{pathId}'");
        if (pathId is null && id is not null && host.Peers.Settings(id) is not null)
            return Results.Json(new { error = $"peer '{id}' exists; PUT /admin/peers/{id} replaces it" }, statusCode: StatusCodes.Status409Conflict);
        var asset = body.TryGetProperty("asset", out var a) && a.ValueKind == JsonValueKind.Object ? a : default;
        var section = new PeerSection
        {
            Id = id, Url = Text(body, "url"), AuthToken = Text(body, "authToken"), Relation = Text(body, "relation"),
            Asset = asset.ValueKind == JsonValueKind.Object ? new AssetSection { Code = Text(asset, "code"), Scale = Text(asset, "scale") } : null,
            MaxPacketAmount = Text(body, "maxPacketAmount"), CreditLimit = Text(body, "creditLimit"),
            SendRoutes = Text(body, "sendRoutes"), ReceiveRoutes = Text(body, "receiveRoutes"),
        };
        var peer = await host.PutPeerAsync(section, context.RequestAborted).ConfigureAwait(false);
        return Results.Json(new { id = peer.Id, relation = peer.Relation.ToString().ToLowerInvariant(), outgoing = peer.IsOutgoing }, statusCode: pathId is null ? StatusCodes.Status201Created : StatusCodes.Status200OK);
    });

    private static async Task<IResult> WithBody(HttpContext context, string[] fields, Func<JsonElement, Task<IResult>> handle)
    {
        var (body, error) = await JsonBodies.ReadObjectAsync(context).ConfigureAwait(false);
        if (error is not null) return Bad(error);
        if (body.EnumerateObject().Select(p => p.Name).FirstOrDefault(n => !fields.Contains(n)) is { } unknown)
            return Bad($"unknown field '{unknown}'; expected {string.Join(", ", fields)}");
        try
        {
            return await handle(body).ConfigureAwait(false);
        }
        catch (ConfigException e)
        {
            return Results.Json(new { error = string.Join("; ", e.Errors), errors = e.Errors }, statusCode: StatusCodes.Status400BadRequest);
        }
        catch (LedgerUnavailableException e)
        {
            return Results.Json(new { error = $"ledger unavailable: {e.Message}" }, statusCode: StatusCodes.Status503ServiceUnavailable);
        }
        catch (Npgsql.NpgsqlException e)
        {
            return StoreUnavailable(e);
        }
    }

    /// <summary>The shared PostgreSQL network store could not be written: nothing changed, on any node.</summary>
    private static IResult StoreUnavailable(Npgsql.NpgsqlException e) =>
        Results.Json(new { error = $"runtime peers and routes cannot be saved (PostgreSQL): {e.Message}; nothing was changed" }, statusCode: StatusCodes.Status503ServiceUnavailable);

    /// <summary>A field as the YAML loader sees it: strings as they are, numbers and booleans as their JSON text.</summary>
    private static string? Text(JsonElement body, string name) => body.TryGetProperty(name, out var v) ? v.ValueKind switch
    {
        JsonValueKind.String => v.GetString(),
        JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => v.GetRawText(),
        JsonValueKind.Null => null,
        _ => v.GetRawText(),
    } : null;

    private static IResult Bad(string message) => JsonBodies.Bad(message);

    private static string Redact(Uri uri) => string.IsNullOrEmpty(uri.UserInfo) ? uri.ToString() : uri.ToString().Replace(uri.UserInfo, "***", StringComparison.Ordinal);
}
