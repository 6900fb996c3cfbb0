using M2M.Server.Configuration;
using M2M.Server.Http;
using M2M.Server.Peers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace M2M.Server;

/// <summary>
/// Blue-green roles (admin token): `POST /admin/promote` logs in to the outgoing peers (a node
/// started with `run --standby` does not), `POST /admin/demote` stops forwarding to them, lets their
/// in-flight packets finish and logs out, `GET /admin/role` tells which, `POST /admin/release-inbound`
/// closes the inbound BTP sessions once each has its requests answered (1001), so peers reconnect
/// through the load balancer to the other colour. scripts/switch-traffic.sh demotes one colour,
/// promotes the other, switches the HAProxy backends and then releases the old colour's peers.
/// </summary>
internal static class RoleEndpoints
{
    public static void MapRoleEndpoints(this IEndpointRouteBuilder app)
    {
        var admin = app.MapAdminGroup();
        admin.MapGet("/admin/role", (ConnectorSettings settings, PeerManager peers) => Results.Json(View(settings, peers, changed: false)));
        admin.MapPost("/admin/promote", async (ConnectorSettings settings, PeerManager peers, CancellationToken ct) =>
        {
            bool changed = await peers.PromoteAsync(TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
            return Results.Json(View(settings, peers, changed));
        });
        admin.MapPost("/admin/demote", async (ConnectorSettings settings, PeerManager peers, CancellationToken ct) =>
        {
            bool changed = await peers.DemoteAsync(settings.MaxHoldTime + TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
            return Results.Json(View(settings, peers, changed));
        });
        admin.MapPost("/admin/release-inbound", async (ConnectorSettings settings, PeerManager peers) =>
        {
            int closed = await peers.CloseInboundAsync("switching").ConfigureAwait(false);
            return Results.Json(new { nodeId = settings.NodeId, closedInboundSessions = closed });
        });
    }

    private static object View(ConnectorSettings settings, PeerManager peers, bool changed) => new
    {
        nodeId = settings.NodeId,
        role = peers.Standby ? "standby" : "active",
        changed,
        outgoingPeers = peers.OutgoingPeers.Select(p => new { id = p.Id, connected = p.Connected }),
    };
}
