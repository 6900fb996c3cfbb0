using System.Security.Cryptography;
using System.Text;
using M2M.Core.Ledger;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace M2M.Server;

/// <summary>Admin API on the HTTP port, behind the ADMIN_API_TOKEN bearer token (refused when none is set).</summary>
internal static class AdminEndpoints
{
    public static void MapAdminEndpoints(this IEndpointRouteBuilder app, ConnectorHost host)
    {
        app.MapGet("/admin/balances", async (HttpContext context) =>
        {
            if (Refuse(context, host.Settings.AdminApiToken) is { } refused) return refused;
            return Results.Json(await BalancesAsync(host, context.RequestAborted).ConfigureAwait(false));
        });
    }

    /// <summary>Each configured peer's account; amounts are decimal strings (UInt128 does not fit a JSON number).</summary>
    public static async Task<IReadOnlyList<PeerBalance>> BalancesAsync(ConnectorHost host, CancellationToken ct)
    {
        var list = new List<PeerBalance>();
        foreach (var p in host.Settings.Peers)
        {
            uint ledger = PeerAccounts.LedgerFor(p.AssetCode, p.AssetScale);
            var a = await host.Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId(p.Id, ledger), ct).ConfigureAwait(false);
            if (a is null) continue;
            list.Add(new PeerBalance(p.Id, p.AssetCode, p.AssetScale, a.PostedBalance.ToString(), a.DebitsPending.ToString(), a.CreditsPending.ToString(),
                a.DebitsPosted.ToString(), a.CreditsPosted.ToString(), p.CreditLimit?.ToString()));
        }
        return list;
    }

    private static IResult? Refuse(HttpContext context, string? token)
    {
        if (string.IsNullOrEmpty(token))
            return Results.Json(new { error = "admin API disabled: set ADMIN_API_TOKEN" }, statusCode: StatusCodes.Status403Forbidden);
        string header = context.Request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        bool ok = header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim()), Encoding.UTF8.GetBytes(token));
        return ok ? null : Results.Json(new { error = "missing or wrong bearer token" }, statusCode: StatusCodes.Status401Unauthorized);
    }
}

public sealed record PeerBalance(string PeerId, string AssetCode, byte AssetScale, string Balance, string DebitsPending, string CreditsPending,
    string DebitsPosted, string CreditsPosted, string? CreditLimit);
