using System.Security.Cryptography;
using System.Text;
using M2M.Server.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace M2M.Server.Http;

/// <summary>
/// The one ADMIN_API_TOKEN check: every admin, settlement and wallet endpoint is mapped in a group
/// that carries this filter, so no handler repeats the guard. 403 when no token is configured
/// (the admin API is off), 401 for a missing or wrong bearer token; compared in constant time.
/// </summary>
internal sealed class AdminTokenFilter(ConnectorSettings settings) : IEndpointFilter
{
    private const string Scheme = "Bearer ";

    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        Refuse(context.HttpContext, settings.AdminApiToken) is { } refused ? ValueTask.FromResult<object?>(refused) : next(context);

    internal static IResult? Refuse(HttpContext context, string? token)
    {
        if (string.IsNullOrEmpty(token))
            return Results.Json(new { error = "admin API disabled: set ADMIN_API_TOKEN" }, statusCode: StatusCodes.Status403Forbidden);
        string header = context.Request.Headers.Authorization.ToString();
        bool ok = header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase)
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim()), Encoding.UTF8.GetBytes(token));
        return ok ? null : Results.Json(new { error = "missing or wrong bearer token (Authorization: Bearer $ADMIN_API_TOKEN)" }, statusCode: StatusCodes.Status401Unauthorized);
    }
}

public static class AdminRouteExtensions
{
    /// <summary>A route group (no prefix) whose endpoints all require the admin bearer token.</summary>
    public static RouteGroupBuilder MapAdminGroup(this IEndpointRouteBuilder app) =>
        app.MapGroup("").AddEndpointFilter<AdminTokenFilter>();
}
