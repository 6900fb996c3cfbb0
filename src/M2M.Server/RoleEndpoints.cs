using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace M2M.Server;

/// <summary>
/// Blue-green roles (admin token): `POST /admin/promote` logs in to the outgoing peers (a node
/// started with `run --standby` does not), `POST /admin/demote` stops forwarding to them, lets their
/// in-flight packets finish and logs out, `GET /admin/role` tells which. scripts/switch-traffic.sh
/// demotes one colour, promotes the other and switches the HAProxy backends.
/// </summary>
internal static class RoleEndpoints
{
    public static void MapRoleEndpoints(this IEndpointRouteBuilder app, ConnectorHost host)
    {
        app.MapGet("/admin/role", (HttpContext context) =>
            AdminEndpoints.Refuse(context, host.Settings.AdminApiToken) ?? Results.Json(View(host, changed: false)));
        app.MapPost("/admin/promote", async (HttpContext context) =>
        {
            if (AdminEndpoints.Refuse(context, host.Settings.AdminApiToken) is { } refused) return refused;
            bool changed = await host.Peers.PromoteAsync(TimeSpan.FromSeconds(10), context.RequestAborted).ConfigureAwait(false);
            return Results.Json(View(host, changed));
        });
        app.MapPost("/admin/demote", async (HttpContext context) =>
        {
            if (AdminEndpoints.Refuse(context, host.Settings.AdminApiToken) is { } refused) return refused;
            bool changed = await host.Peers.DemoteAsync(host.Settings.MaxHoldTime + TimeSpan.FromSeconds(1), context.RequestAborted).ConfigureAwait(false);
            return Results.Json(View(host, changed));
        });
    }

    private static object View(ConnectorHost host, bool changed) => new
    {
        nodeId = host.Settings.NodeId,
        role = host.Peers.Standby ? "standby" : "active",
        changed,
        outgoingPeers = host.Peers.OutgoingPeers.Select(p => new { id = p.Id, connected = p.Connected }),
    };
}
