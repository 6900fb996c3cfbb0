using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace M2M.Server;

/// <summary>GET /admin/routes (admin token): the local routing table, where each route came from, and the CCP state per peer.</summary>
internal static class RoutingEndpoints
{
    public static void MapRoutingEndpoints(this IEndpointRouteBuilder app, ConnectorHost host)
    {
        app.MapGet("/admin/routes", (HttpContext context) =>
            AdminEndpoints.Refuse(context, host.Settings.AdminApiToken) ?? Results.Json(host.Routing.Snapshot()));
    }
}
