using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using M2M.Server.Configuration;
using M2M.Server.Http;
using M2M.Server.Wallets;
using M2M.Wallets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace M2M.Server;

/// <summary>
/// Agent wallet API on the HTTP port, behind the ADMIN_API_TOKEN bearer token:
/// <code>
/// POST /admin/wallets                      {"agentId"}  create (201), or the existing wallet (200)
/// GET  /admin/wallets?status=&amp;offset=&amp;limit=    list, ordered by derivation index
/// GET  /admin/wallets/{agentId}                         one wallet
/// POST /admin/wallets/{agentId}/suspend|reactivate|archive   {"reason"?}  lifecycle (audited)
/// GET  /admin/wallets/{agentId}/balances                on-chain balances where a chain is configured
/// GET  /admin/wallets/{agentId}/audit                   the agent's audit trail
/// </code>
/// Every error is JSON <c>{"error": "..."}</c>.
/// </summary>
internal static partial class WalletEndpoints
{
    public const int DefaultPageSize = 50;

    public static void MapWalletEndpoints(this WebApplication app)
    {
        // Opened by the host at start (shared with the Explorer, which observes its changes) and closed by it on stop.
        var wallets = app.Services.GetRequiredService<ConnectorWallets>();
        var admin = app.MapAdminGroup();

        admin.MapPost("/admin/wallets", (Delegate)((HttpContext c) => Guarded(wallets, store => CreateAsync(c, store))));
        admin.MapGet("/admin/wallets", (Delegate)((HttpContext c) => Guarded(wallets, store => Task.FromResult(List(c, store)))));
        admin.MapGet("/admin/wallets/{agentId}", (string agentId) =>
            Guarded(wallets, store => Task.FromResult(WithAgent(store, agentId, w => Results.Json(View(w))))));
        admin.MapPost("/admin/wallets/{agentId}/{action}", (HttpContext c, string agentId, string action) =>
            Guarded(wallets, store => TransitionAsync(c, store, agentId, action)));
        admin.MapGet("/admin/wallets/{agentId}/balances", (HttpContext c, string agentId) =>
            Guarded(wallets, store => BalancesAsync(c, wallets, store, agentId)));
        admin.MapGet("/admin/wallets/{agentId}/audit", (string agentId) =>
            Guarded(wallets, store => Task.FromResult(WithAgent(store, agentId, w => Results.Json(new
            {
                agentId = w.AgentId,
                entries = store.AuditTrail(w.AgentId).Select(a => new { id = a.Id, action = a.Action, at = a.At, detail = a.Detail }),
            })))));
    }

    /// <summary>The admin token is checked first by the group's filter (so an anonymous caller learns nothing about the store), then the store's availability.</summary>
    private static async Task<IResult> Guarded(ConnectorWallets wallets, Func<WalletStore, Task<IResult>> handle)
    {
        if (wallets.Store is not { } store) return Error(StatusCodes.Status503ServiceUnavailable, wallets.Unavailable ?? "agent wallets are unavailable");
        try
        {
            return await handle(store).ConfigureAwait(false);
        }
        catch (WalletNotFoundException e)
        {
            return Error(StatusCodes.Status404NotFound, e.Message);
        }
        catch (WalletTransitionException e)
        {
            return Error(StatusCodes.Status409Conflict, e.Message);
        }
        catch (WalletStoreException e)
        {
            return Error(StatusCodes.Status500InternalServerError, e.Message);
        }
    }

    private static async Task<IResult> CreateAsync(HttpContext context, WalletStore store)
    {
        var (body, bad) = await ReadBodyAsync(context, required: true, " like {\"agentId\": \"agent-1\"}").ConfigureAwait(false);
        if (bad is not null) return bad;
        if (!body.TryGetProperty("agentId", out var idElement) || idElement.ValueKind != JsonValueKind.String)
            return Error(StatusCodes.Status400BadRequest, "body must have a string \"agentId\", e.g. {\"agentId\": \"agent-1\"}");
        var agentId = idElement.GetString()!;
        if (CheckAgentId(agentId) is { } invalid) return invalid;
        bool existed = store.Get(agentId) is not null;
        var wallet = await store.CreateAsync(agentId, context.RequestAborted).ConfigureAwait(false);
        return existed
            ? Results.Json(View(wallet))
            : Results.Json(View(wallet), statusCode: StatusCodes.Status201Created);
    }

    private static IResult List(HttpContext context, WalletStore store)
    {
        var q = context.Request.Query;
        foreach (var key in q.Keys)
            if (key is not ("status" or "offset" or "limit"))
                return Error(StatusCodes.Status400BadRequest, $"unknown query parameter '{key}' (known: status, offset, limit)");
        WalletStatus? status = null;
        if (q.TryGetValue("status", out var s))
        {
            status = s.ToString() switch
            {
                "active" => WalletStatus.Active,
                "suspended" => WalletStatus.Suspended,
                "archived" => WalletStatus.Archived,
                _ => null,
            };
            if (status is null) return Error(StatusCodes.Status400BadRequest, $"status '{s}' is invalid; expected active, suspended or archived");
        }
        if (!Number(q, "offset", 0, 0, int.MaxValue, out int offset, out var badOffset)) return badOffset!;
        if (!Number(q, "limit", DefaultPageSize, 1, WalletStore.MaxPageSize, out int limit, out var badLimit)) return badLimit!;
        var page = store.Page(status, offset, limit);
        return Results.Json(new { wallets = page.Wallets.Select(View), total = page.Total, offset = page.Offset, limit = page.Limit });
    }

    private static async Task<IResult> TransitionAsync(HttpContext context, WalletStore store, string agentId, string action)
    {
        if (CheckAgentId(agentId) is { } invalid) return invalid;
        if (action is not ("suspend" or "reactivate" or "archive"))
            return Error(StatusCodes.Status404NotFound, $"unknown wallet action '{Truncate(action)}' (known: suspend, reactivate, archive)");
        var (body, bad) = await ReadBodyAsync(context, required: false, " like {\"reason\": \"…\"}").ConfigureAwait(false);
        if (bad is not null) return bad;
        string? reason = null;
        if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty("reason", out var r))
        {
            if (r.ValueKind != JsonValueKind.String || r.GetString()!.Length > 500)
                return Error(StatusCodes.Status400BadRequest, "\"reason\" must be a string of at most 500 characters");
            reason = r.GetString();
        }
        var wallet = action switch
        {
            "suspend" => store.Suspend(agentId, reason),
            "reactivate" => store.Reactivate(agentId, reason),
            _ => store.Archive(agentId, reason),
        };
        return Results.Json(View(wallet));
    }

    private static async Task<IResult> BalancesAsync(HttpContext context, ConnectorWallets wallets, WalletStore store, string agentId)
    {
        if (CheckAgentId(agentId) is { } invalid) return invalid;
        var wallet = store.Get(agentId);
        if (wallet is null) return Error(StatusCodes.Status404NotFound, $"no wallet for agent '{agentId}'");
        if (wallets.Evm is null)
            return Error(StatusCodes.Status404NotFound, "no chain is configured for wallet balances: set wallet.evmRpcUrl in the config file or WALLET_EVM_RPC_URL");
        try
        {
            var wei = await wallets.Evm.GetBalanceAsync(wallet.EvmAddress, context.RequestAborted).ConfigureAwait(false);
            return Results.Json(new
            {
                agentId = wallet.AgentId,
                status = Status(wallet.Status),
                balances = new[] { new { chain = "evm", address = wallet.EvmAddress, balance = wei.ToString(CultureInfo.InvariantCulture), unit = "wei" } },
                notConfigured = new[] { "xrp" },
            });
        }
        catch (WalletChainException e)
        {
            return Error(StatusCodes.Status502BadGateway, e.Message);
        }
    }

    private static IResult WithAgent(WalletStore store, string agentId, Func<AgentWallet, IResult> then)
    {
        if (CheckAgentId(agentId) is { } invalid) return invalid;
        return store.Get(agentId) is { } w ? then(w) : Error(StatusCodes.Status404NotFound, $"no wallet for agent '{agentId}'");
    }

    /// <summary>Letters, digits and . _ ~ : @ - (URL-safe, no surrounding space), 1 to 128 characters.</summary>
    private static IResult? CheckAgentId(string agentId) => AgentIdPattern().IsMatch(agentId) ? null
        : Error(StatusCodes.Status400BadRequest, $"agent id '{Truncate(agentId)}' is invalid; expected 1 to 128 letters, digits, '.', '_', '~', ':', '@' or '-', starting with a letter or digit");

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._~:@-]{0,127}\z")]
    private static partial Regex AgentIdPattern();

    private static string Truncate(string s) => s.Length <= 64 ? s : s[..64] + "…";

    private static async Task<(JsonElement Body, IResult? Bad)> ReadBodyAsync(HttpContext context, bool required, string expected)
    {
        var (body, error) = await JsonBodies.ReadObjectAsync(context, expected, optional: !required).ConfigureAwait(false);
        return error is null ? (body, null) : (default, JsonBodies.Bad(error));
    }

    private static bool Number(IQueryCollection q, string key, int fallback, int min, int max, out int value, out IResult? bad)
    {
        bad = null;
        value = fallback;
        if (!q.TryGetValue(key, out var raw)) return true;
        if (int.TryParse(raw.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out value) && value >= min && value <= max) return true;
        bad = Error(StatusCodes.Status400BadRequest, $"{key} '{raw}' is invalid; expected a whole number from {min} to {max}");
        return false;
    }

    private static object View(AgentWallet w) => new
    {
        agentId = w.AgentId,
        derivationIndex = w.DerivationIndex,
        status = Status(w.Status),
        evm = new { address = w.EvmAddress, path = "m/" + WalletDerivation.EvmPath(w.DerivationIndex) },
        xrp = new { address = w.XrpAddress, path = "m/" + WalletDerivation.XrpPath(w.DerivationIndex) },
        createdAt = w.CreatedAt,
        updatedAt = w.UpdatedAt,
    };

    private static string Status(WalletStatus s) => s.ToString().ToLowerInvariant();

    private static IResult Error(int status, string message) => JsonBodies.Error(status, message);
}
