using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using M2M.Server.Accounting;
using M2M.Server.Configuration;
using M2M.Server.Peers;
using M2M.Server.Routing;
using M2M.Settlement.Coordination;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;

namespace M2M.Server.Explorer;

/// <summary>
/// The Explorer, on the HTTP port and on EXPLORER_PORT: the query API (/api/events, /api/events/stream,
/// /api/peers, /api/routes, /api/balances, /api/balances/history, /api/settlements, /api/dashboard) and
/// the UI under /explorer. Every read needs the admin token or EXPLORER_TOKEN,
/// as <c>Authorization: Bearer</c> or as the session cookie the login form sets; 401 otherwise.
/// </summary>
public static class ExplorerEndpoints
{
    public const string CookieName = "m2m_explorer";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    public static void MapExplorerEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").AddEndpointFilter<ExplorerTokenFilter>();
        api.MapGet("/events", (HttpContext context, ExplorerFeed feed) =>
            ParseQuery(context.Request.Query, out string? error) is { } q ? Results.Json(feed.Store.Query(q), Json) : Results.Json(new { error }, statusCode: 400));
        api.MapGet("/events/stream", StreamAsync);
        api.MapGet("/peers", (PeerManager peers) => Results.Json(peers.Configured.Select(p => new
        {
            id = p.Id, relation = p.Relation.ToString().ToLowerInvariant(), assetCode = p.AssetCode, assetScale = p.AssetScale,
            connected = peers.IsConnected(p.Id), outgoing = p.IsOutgoing,
        }), Json));
        api.MapGet("/balances", async (PeerManager peers, ConnectorLedger accounting, CancellationToken ct) =>
            Results.Json(await AdminEndpoints.BalancesAsync(peers, accounting.Ledger, ct).ConfigureAwait(false), Json));
        api.MapGet("/balances/history", (HttpContext context, ExplorerFeed feed) =>
        {
            string? peer = context.Request.Query["peer"] is { Count: > 0 } p && p[0] is { Length: > 0 } v ? v : null;
            int limit = 360;
            if (context.Request.Query["limit"] is { Count: > 0 } l
                && (!int.TryParse(l[0], NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > ExplorerStore.MaxPageSize))
                return Results.Json(new { error = $"limit '{l[0]}' is not a whole number from 1 to {ExplorerStore.MaxPageSize}" }, statusCode: 400);
            return Results.Json(feed.Store.History(peer, limit)
                .GroupBy(x => x.Peer).Select(g => new { peer = g.Key, samples = g.Select(x => new { time = x.Time, balance = x.Balance }) }), Json);
        });
        api.MapGet("/packets/seconds", (HttpContext context, ExplorerFeed feed) =>
        {
            var query = context.Request.Query;
            long now = feed.Stats.Now + 1;
            long to = now, from = now - ExplorerStats.WindowSeconds;
            foreach (var (name, set) in new (string, Action<long>)[] { ("from", v => from = v), ("to", v => to = v) })
            {
                if (query[name] is not { Count: > 0 } raw || raw[0] is not { Length: > 0 } text) continue;
                if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
                    return Results.Json(new { error = $"{name} '{text}' is not a date/time (ISO 8601)" }, statusCode: 400);
                set(at.ToUnixTimeSeconds());
            }
            if (to - from is < 1 or > MaxSecondsSpan)
                return Results.Json(new { error = $"from..to must span 1 s to {MaxSecondsSpan / 3600} h (got {to - from} s)" }, statusCode: 400);
            string? peer = query["peer"] is { Count: > 0 } p && p[0] is { Length: > 0 } v ? v : null;
            return Results.Json(feed.Store.Seconds(from, to, peer).Select(s => new
            {
                time = DateTimeOffset.FromUnixTimeSeconds(s.Second), peerIn = s.PeerIn, peerOut = s.PeerOut.Length == 0 ? null : s.PeerOut,
                fulfilled = s.Fulfilled, rejected = s.Rejected, stored = s.Stored,
                p50LatencyMs = LatencyHistogram.Quantile(s.Latency, 0.5), p99LatencyMs = LatencyHistogram.Quantile(s.Latency, 0.99),
            }), Json);
        });
        api.MapGet("/wallets", (ExplorerFeed feed, [Microsoft.AspNetCore.Mvc.FromServices] M2M.Server.Wallets.ConnectorWallets? wallets) =>
        {
            var list = wallets?.Store?.List();
            return Results.Json(new
            {
                available = list is not null,
                unavailable = list is null ? wallets?.Unavailable ?? "agent wallets are not open" : null,
                counts = list is null ? null : new
                {
                    active = list.Count(w => w.Status == M2M.Wallets.WalletStatus.Active),
                    suspended = list.Count(w => w.Status == M2M.Wallets.WalletStatus.Suspended),
                    archived = list.Count(w => w.Status == M2M.Wallets.WalletStatus.Archived),
                },
                wallets = list?.OrderByDescending(w => w.DerivationIndex).Take(200).Select(w => new
                {
                    agentId = w.AgentId, status = w.Status.ToString().ToLowerInvariant(), evmAddress = w.EvmAddress, xrpAddress = w.XrpAddress,
                    createdAt = w.CreatedAt, updatedAt = w.UpdatedAt,
                }),
                events = feed.Store.Query(new ExplorerQuery { Type = WalletTypes, Limit = 100 }).Events,
            }, Json);
        });
        api.MapGet("/routes", (RoutingService routing) => Results.Json(routing.Snapshot(), Json));
        api.MapGet("/settlements", (SettlementCoordinator settlement, ExplorerFeed feed) => Results.Json(new
        {
            open = settlement.OpenCount,
            methods = settlement.Methods.Order(StringComparer.Ordinal),
            settlements = settlement.Store.List().OrderByDescending(r => r.CreatedAt).Take(200).Select(SettlementView),
            channels = feed.Store.Query(new ExplorerQuery { Type = ChannelTypes, Limit = 200 }).Events,
        }, Json));
        api.MapGet("/dashboard", async (ExplorerFeed feed, PeerManager peers, ConnectorLedger accounting, SettlementCoordinator settlement, RoutingService routing, CancellationToken ct) =>
        {
            var balances = await AdminEndpoints.BalancesAsync(peers, accounting.Ledger, ct).ConfigureAwait(false);
            return Results.Json(new
            {
                packets = feed.Stats.Snapshot(),
                eventsDropped = feed.Dropped,
                peers = new { configured = peers.Configured.Count, connected = peers.Configured.Count(p => peers.IsConnected(p.Id)) },
                routes = routing.Table.Count,
                balances = balances.Select(b => new { b.PeerId, b.AssetCode, b.AssetScale, b.Balance, b.CreditLimit, limitUsed = LimitUsed(b) }),
                openSettlements = settlement.Store.List(SettlementState.Pending).Concat(settlement.Store.List(SettlementState.Submitted))
                    .OrderBy(r => r.CreatedAt).Select(SettlementView),
            }, Json);
        });

        app.MapGet("/explorer", (HttpContext context, ConnectorSettings settings) =>
            ExplorerTokenFilter.IsAuthorized(context, settings) ? Page("index.html", settings) : Page("login.html", settings));
        app.MapPost("/explorer/login", async (HttpContext context, ConnectorSettings settings) =>
        {
            if (!context.Request.HasFormContentType) return Results.BadRequest();
            var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
            string token = form["token"].ToString();
            if (ExplorerTokenFilter.SessionFor(settings, token) is not { } session) return Results.Redirect("/explorer?failed=1");
            context.Response.Cookies.Append(CookieName, session, new CookieOptions
            {
                HttpOnly = true, SameSite = SameSiteMode.Strict, Path = "/", Secure = context.Request.IsHttps, IsEssential = true,
            });
            return Results.Redirect("/explorer");
        });
        app.MapPost("/explorer/logout", (HttpContext context) =>
        {
            context.Response.Cookies.Delete(CookieName, new CookieOptions { Path = "/" });
            return Results.Redirect("/explorer");
        });
        // Two fixed files (the slim host has no regex route constraints).
        app.MapGet("/explorer/explorer.js", () => Results.Bytes(Resource("explorer.js")!, "text/javascript; charset=utf-8"));
        app.MapGet("/explorer/explorer.css", () => Results.Bytes(Resource("explorer.css")!, "text/css; charset=utf-8"));
    }

    /// <summary>The longest span /api/packets/seconds answers (one row per second and pair of peers).</summary>
    public const long MaxSecondsSpan = 3600;

    /// <summary>The wallet event types, for the wallets view.</summary>
    public const string WalletTypes = ExplorerEvent.WalletCreated + "," + ExplorerEvent.WalletSuspended + "," + ExplorerEvent.WalletReactivated + ","
        + ExplorerEvent.WalletArchived;

    /// <summary>The payment channel event types, for the settlements view.</summary>
    public const string ChannelTypes = ExplorerEvent.ChannelOpened + "," + ExplorerEvent.ClaimSent + "," + ExplorerEvent.ClaimReceived + ","
        + ExplorerEvent.ChannelDisputed + "," + ExplorerEvent.ChannelClosed;

    private static object SettlementView(SettlementRecord r) => new
    {
        id = r.Id, peerId = r.PeerId, method = r.Method, amount = r.Amount.ToString(CultureInfo.InvariantCulture), state = r.State.ToString().ToLowerInvariant(),
        attempts = r.Attempts, lastError = r.LastError, reference = r.Reference, createdAt = r.CreatedAt, updatedAt = r.UpdatedAt,
    };

    /// <summary>How much of the credit limit the peer's debt uses (a negative balance: the peer owes us), 0–1; null without a limit.</summary>
    private static double? LimitUsed(PeerBalance b)
    {
        if (b.CreditLimit is null || !Int128.TryParse(b.CreditLimit, CultureInfo.InvariantCulture, out var limit) || limit <= 0) return null;
        var balance = Int128.Parse(b.Balance, CultureInfo.InvariantCulture);
        return balance >= 0 ? 0 : Math.Round((double)-balance / (double)limit, 4);
    }

    private static async Task StreamAsync(HttpContext context, ExplorerFeed feed, IHostApplicationLifetime lifetime)
    {
        context.Response.Headers.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        var reader = feed.Subscribe(out var lease);
        using var _ = lease;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        try
        {
            await context.Response.WriteAsync(": explorer\n\n", stop.Token).ConfigureAwait(false);
            await context.Response.Body.FlushAsync(stop.Token).ConfigureAwait(false);
            await foreach (var e in reader.ReadAllAsync(stop.Token).ConfigureAwait(false))
            {
                await context.Response.WriteAsync($"id: {e.Seq}\ndata: {JsonSerializer.Serialize(e, Json)}\n\n", stop.Token).ConfigureAwait(false);
                if (!reader.TryPeek(out var _)) await context.Response.Body.FlushAsync(stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The browser went away or the connector is stopping.
        }
    }

    /// <summary>The query string as an <see cref="ExplorerQuery"/>, or one line saying which parameter is wrong.</summary>
    public static ExplorerQuery? ParseQuery(IQueryCollection query, out string? error)
    {
        error = null;
        string? Get(string name) => query[name] is { Count: > 0 } v && v[0] is { Length: > 0 } s ? s : null;
        var q = new ExplorerQuery { Type = Get("type"), Peer = Get("peer"), PacketId = Get("packetId") };
        if (q.Type?.Split(',').FirstOrDefault(t => !ExplorerEvent.Types.Contains(t)) is { } badType)
            return Fail($"type '{badType}' is not one of {string.Join(", ", ExplorerEvent.Types)} (several: comma-separated)", out error);
        if (Get("from") is { } from)
        {
            if (!DateTimeOffset.TryParse(from, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var f)) return Fail($"from '{from}' is not a date/time (ISO 8601)", out error);
            q = q with { From = f };
        }
        if (Get("to") is { } to)
        {
            if (!DateTimeOffset.TryParse(to, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)) return Fail($"to '{to}' is not a date/time (ISO 8601)", out error);
            q = q with { To = t };
        }
        if (Get("before") is { } before)
        {
            if (!long.TryParse(before, NumberStyles.None, CultureInfo.InvariantCulture, out long b)) return Fail($"before '{before}' is not a sequence number", out error);
            q = q with { Before = b };
        }
        if (Get("limit") is { } limit)
        {
            if (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out int l) || l is < 1 or > ExplorerStore.MaxPageSize)
                return Fail($"limit '{limit}' is not a whole number from 1 to {ExplorerStore.MaxPageSize}", out error);
            q = q with { Limit = l };
        }
        return q;

        static ExplorerQuery? Fail(string why, out string? error)
        {
            error = why;
            return null;
        }
    }

    private static IResult Page(string name, ConnectorSettings settings) =>
        Results.Content(Encoding.UTF8.GetString(Resource(name)!).Replace("{{nodeId}}", System.Net.WebUtility.HtmlEncode(settings.NodeId), StringComparison.Ordinal),
            "text/html; charset=utf-8");

    private static byte[]? Resource(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("m2m.explorer." + name);
        if (stream is null) return null;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}

/// <summary>The Explorer's one token check: the admin token or EXPLORER_TOKEN, by bearer header or session cookie, compared in constant time.</summary>
internal sealed class ExplorerTokenFilter(ConnectorSettings settings) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        IsAuthorized(context.HttpContext, settings) ? next(context)
            : ValueTask.FromResult<object?>(Results.Json(new { error = "missing or wrong token (Authorization: Bearer $EXPLORER_TOKEN or $ADMIN_API_TOKEN)" }, statusCode: StatusCodes.Status401Unauthorized));

    private static IEnumerable<string> Tokens(ConnectorSettings s) =>
        new[] { s.Explorer.Token, s.AdminApiToken }.Where(t => !string.IsNullOrEmpty(t))!;

    /// <summary>The cookie value for a valid token: an HMAC of it, so the cookie is not the token itself.</summary>
    public static string? SessionFor(ConnectorSettings s, string token) =>
        Tokens(s).Any(t => Equal(t, token)) ? Session(token) : null;

    private static string Session(string token) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(token), "m2m-explorer-session/1"u8));

    private static bool Equal(string a, string b) => CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));

    public static bool IsAuthorized(HttpContext context, ConnectorSettings s)
    {
        string header = context.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            string given = header["Bearer ".Length..].Trim();
            return Tokens(s).Any(t => Equal(t, given));
        }
        return context.Request.Cookies[ExplorerEndpoints.CookieName] is { Length: > 0 } cookie && Tokens(s).Any(t => Equal(Session(t), cookie));
    }
}
