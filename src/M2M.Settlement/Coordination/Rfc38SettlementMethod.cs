using System.Net.Http.Json;

namespace M2M.Settlement.Coordination;

/// <summary>
/// Settles through an external settlement engine (Interledger RFC 38): POST
/// {engine}/accounts/{peerId}/settlements with body {amount, scale} and the settlement id as
/// Idempotency-Key, so a resend after a crash is answered once by the engine.
/// </summary>
public sealed class Rfc38SettlementMethod(HttpClient http, Func<string, Uri?> engineOf, Func<string, byte> scaleOf) : ISettlementMethod
{
    public string Name => "rfc38";

    public async Task<SettlementReceipt> SettleAsync(SettlementRecord settlement, CancellationToken ct)
    {
        var engine = engineOf(settlement.PeerId) ?? throw new SettlementFailedException($"no settlement engine URL for peer '{settlement.PeerId}' (peers[].settlement.engineUrl)");
        var uri = new Uri(engine, $"accounts/{Uri.EscapeDataString(settlement.PeerId)}/settlements");
        using var request = new HttpRequestMessage(HttpMethod.Post, uri)
        {
            Content = JsonContent.Create(new { amount = settlement.Amount.ToString(), scale = scaleOf(settlement.PeerId) }),
        };
        request.Headers.Add("Idempotency-Key", settlement.Id.ToString());
        using var response = await http.SendAsync(request, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
            throw new SettlementFailedException($"settlement engine answered {(int)response.StatusCode} {response.ReasonPhrase}");
        return new SettlementReceipt($"rfc38:{settlement.Id}");
    }
}
