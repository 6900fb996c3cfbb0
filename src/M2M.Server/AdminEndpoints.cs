using System.Text.Json;
using M2M.Core.Ledger;
using M2M.Server.Accounting;
using M2M.Server.Configuration;
using M2M.Server.Http;
using M2M.Server.Peers;
using M2M.Settlement.Coordination;
using M2M.Settlement.Evm;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;

namespace M2M.Server;

/// <summary>Admin API on the HTTP port, behind the ADMIN_API_TOKEN bearer token (refused when none is set).</summary>
internal static class AdminEndpoints
{
    public static void MapAdminEndpoints(this IEndpointRouteBuilder app)
    {
        var admin = app.MapAdminGroup();
        admin.MapGet("/admin/balances", async (PeerManager peers, ConnectorLedger accounting, Accounts.HostedAccounts hosted, CancellationToken ct) =>
            Results.Json((await BalancesAsync(peers, accounting.Ledger, ct).ConfigureAwait(false)).Concat(await hosted.BalancesAsync(ct).ConfigureAwait(false))));
        MapDrain(admin);
        admin.MapPost("/settlement/execute", (HttpContext context, ConnectorSettings settings, SettlementCoordinator settlement) =>
            ExecuteSettlementAsync(settings, settlement, context));
        admin.MapPost("/settlement/redeem/{peerId}", async (string peerId, [FromServices] EvmClaimReceiver? claims, CancellationToken ct) =>
        {
            if (claims is null) return BadRequest("EVM settlement is not configured (EVM_PRIVATE_KEY and peers[].settlement.evm)");
            try
            {
                var redeemed = await claims.RedeemAsync(peerId, ct).ConfigureAwait(false);
                return Results.Json(new
                {
                    // paidWei/cumulativeClaimedWei are in the channel asset's smallest unit: token base units when asset is a token.
                    peerId, asset = claims.AssetOf(peerId), paidWei = redeemed.Paid.ToString(), cumulativeClaimedWei = redeemed.CumulativeClaimed.ToString(),
                    transactionHash = redeemed.Transaction.TransactionHash, gasCostWei = redeemed.Transaction.GasCostWei.ToString(),
                });
            }
            catch (InvalidOperationException e)
            {
                return BadRequest(e.Message);
            }
            catch (M2M.Settlement.Evm.EvmChannelException e)
            {
                return Results.Json(new { error = e.Message }, statusCode: StatusCodes.Status502BadGateway);
            }
        });
        admin.MapGet("/settlement/{id:guid}", (Guid id, SettlementCoordinator settlement) =>
            settlement.Store.Get(id) is { } record ? Results.Json(View(record)) : Results.Json(new { error = $"no settlement {id}" }, statusCode: 404));
        admin.MapGet("/settlement/status/{peerId}", (string peerId, SettlementCoordinator settlement) =>
        {
            var records = settlement.Store.List(peerId: peerId);
            return Results.Json(new { peerId, open = records.Where(r => r.IsOpen).Select(View).FirstOrDefault(), last = records.Select(View).LastOrDefault(), count = records.Count });
        });
        admin.MapGet("/settlements", (string? state, SettlementCoordinator settlement) =>
        {
            if (state is not null && !Enum.TryParse<SettlementState>(state, ignoreCase: true, out _))
                return BadRequest($"state '{state}' is not one of pending, submitted, confirmed, failed");
            SettlementState? filter = state is null ? null : Enum.Parse<SettlementState>(state, ignoreCase: true);
            return Results.Json(settlement.Store.List(filter).Select(View));
        });
    }

    /// <summary>POST /settlement/execute: 2.0 body {peerId, amount?, method?, tokenId?}; the 1.x body {peerId, tokenId?} too.</summary>
    private static async Task<IResult> ExecuteSettlementAsync(ConnectorSettings connector, SettlementCoordinator coordinator, HttpContext context)
    {
        var (body, error) = await JsonBodies.ReadObjectAsync(context, " {peerId, amount?, method?, tokenId?}").ConfigureAwait(false);
        if (error is not null) return BadRequest(error);
        if (!body.TryGetProperty("peerId", out var peer) || peer.ValueKind != JsonValueKind.String || peer.GetString() is not { Length: > 0 } peerId)
            return BadRequest("peerId is required (a string)");
        ulong? amount = null;
        if (body.TryGetProperty("amount", out var a) && a.ValueKind != JsonValueKind.Null)
        {
            bool ok = a.ValueKind switch
            {
                JsonValueKind.Number => a.TryGetUInt64(out ulong n) && (amount = n) > 0,
                JsonValueKind.String => ulong.TryParse(a.GetString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ulong n2) && (amount = n2) > 0,
                _ => false,
            };
            if (!ok) return BadRequest("amount must be a positive whole number of the peer's asset units (number or decimal string)");
        }
        string? method = body.TryGetProperty("method", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
        var settings = connector.Peers.FirstOrDefault(p => p.Id == peerId);
        if (body.TryGetProperty("tokenId", out var t) && t.ValueKind == JsonValueKind.String && settings is not null
            && t.GetString() != $"{settings.AssetCode}/{settings.AssetScale}" && t.GetString() != settings.AssetCode)
            return BadRequest($"tokenId '{t.GetString()}' is not peer '{peerId}''s asset {settings.AssetCode}/{settings.AssetScale}");
        try
        {
            var record = await coordinator.RequestAsync(peerId, amount, method, context.RequestAborted).ConfigureAwait(false);
            return Results.Json(View(record), statusCode: StatusCodes.Status202Accepted);
        }
        catch (SettlementRequestException e)
        {
            return BadRequest(e.Message);
        }
    }

    /// <summary>
    /// POST /admin/drain[?timeoutSeconds=N]: 202 with the drain status; the process exits 0 once the drain
    /// finishes (or its deadline passes). GET /admin/drain: the status (running, draining, drained, timed_out).
    /// </summary>
    private static void MapDrain(RouteGroupBuilder admin)
    {
        admin.MapPost("/admin/drain", (string? timeoutSeconds, ConnectorHost host) =>
        {
            TimeSpan? timeout = null;
            if (timeoutSeconds is not null)
            {
                if (!uint.TryParse(timeoutSeconds, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out uint seconds) || seconds > 3600)
                    return BadRequest("timeoutSeconds must be a whole number of seconds from 0 to 3600");
                timeout = TimeSpan.FromSeconds(seconds);
            }
            if (host.State is ConnectorState.Starting or ConnectorState.Stopped)
                return Results.Json(new { error = $"connector is {host.State.ToString().ToLowerInvariant()}" }, statusCode: StatusCodes.Status409Conflict);
            host.BeginDrain(timeout, thenStop: true);
            return Results.Json(DrainView(host.DrainState), statusCode: StatusCodes.Status202Accepted);
        });
        admin.MapGet("/admin/drain", (ConnectorHost host) => Results.Json(DrainView(host.DrainState)));
    }

    private static object DrainView(DrainStatus d) => new
    {
        status = d.Status, inFlight = d.InFlight, settlementsPending = d.SettlementsPending,
        startedAt = d.StartedAt, deadline = d.Deadline, finishedAt = d.FinishedAt,
    };

    private static IResult BadRequest(string message) => JsonBodies.Bad(message);

    private static object View(SettlementRecord r) => new
    {
        settlementId = r.Id,
        peerId = r.PeerId,
        method = r.Method,
        amount = r.Amount.ToString(),
        token = r.Token,
        state = r.State.ToString().ToLowerInvariant(),
        attempts = r.Attempts,
        lastError = r.LastError,
        reference = r.Reference,
        createdAt = r.CreatedAt,
        updatedAt = r.UpdatedAt,
    };

    /// <summary>Each configured peer's account (YAML plus runtime changes); amounts are decimal strings (UInt128 does not fit a JSON number).</summary>
    public static async Task<IReadOnlyList<PeerBalance>> BalancesAsync(PeerManager peers, ILedger ledgerStore, CancellationToken ct)
    {
        var list = new List<PeerBalance>();
        foreach (var p in peers.Configured)
        {
            uint ledger = PeerAccounts.LedgerFor(p.AssetCode, p.AssetScale);
            var a = await ledgerStore.LookupAccountAsync(PeerAccounts.PeerAccountId(p.Id, ledger), ct).ConfigureAwait(false);
            if (a is null) continue;
            list.Add(new PeerBalance(p.Id, p.AssetCode, p.AssetScale, a.PostedBalance.ToString(), a.DebitsPending.ToString(), a.CreditsPending.ToString(),
                a.DebitsPosted.ToString(), a.CreditsPosted.ToString(), p.CreditLimit?.ToString()));
        }
        return list;
    }
}

public sealed record PeerBalance(string PeerId, string AssetCode, byte AssetScale, string Balance, string DebitsPending, string CreditsPending,
    string DebitsPosted, string CreditsPosted, string? CreditLimit);
