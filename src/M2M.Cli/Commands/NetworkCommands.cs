using System.CommandLine;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace M2M.Cli;

/// <summary>
/// <c>peers add|list|remove</c> and <c>routes add|list|remove</c>: the running connector's admin API
/// (<c>/admin/peers</c>, <c>/admin/routes</c>) with the bearer token from ADMIN_API_TOKEN. Changes apply at once,
/// without a restart, and are kept in the connector's network.json.
/// </summary>
internal static class NetworkCommands
{
    public static Command Peers()
    {
        var id = new Argument<string>("id") { Description = "Peer id (letters, digits, '_', '~', '-')" };
        var url = new Option<string?>("--url") { Description = "Outgoing peer: the ws://, wss://, btp+ws:// or btp+wss:// URL we connect to" };
        var token = new Option<string?>("--token") { Description = "Outgoing: the token we send; inbound: the token we expect" };
        var relation = new Option<string?>("--relation") { Description = "parent, peer (default) or child" };
        var assetCode = new Option<string?>("--asset-code") { Description = "Asset code (default USD)" };
        var assetScale = new Option<string?>("--asset-scale") { Description = "Asset scale (default 9)" };
        var maxPacket = new Option<string?>("--max-packet-amount") { Description = "Larger Prepares from this peer get F08" };
        var credit = new Option<string?>("--credit-limit") { Description = "How far the peer may owe us (T04 beyond)" };
        var send = new Option<string?>("--send-routes") { Description = "true or false (default: true unless a child)" };
        var receive = new Option<string?>("--receive-routes") { Description = "true or false (default: true unless a child)" };
        var add = new Command("add", "Add (or replace) a peer without a restart") { id, url, token, relation, assetCode, assetScale, maxPacket, credit, send, receive };
        var adminUrl = AdminUrl();
        add.Options.Add(adminUrl);
        add.SetAction((p, ct) =>
        {
            var body = new Dictionary<string, object?>
            {
                ["url"] = p.GetValue(url), ["authToken"] = p.GetValue(token), ["relation"] = p.GetValue(relation),
                ["maxPacketAmount"] = p.GetValue(maxPacket), ["creditLimit"] = p.GetValue(credit),
                ["sendRoutes"] = p.GetValue(send), ["receiveRoutes"] = p.GetValue(receive),
            };
            if (p.GetValue(assetCode) is not null || p.GetValue(assetScale) is not null)
                body["asset"] = new Dictionary<string, string?> { ["code"] = p.GetValue(assetCode), ["scale"] = p.GetValue(assetScale) }.Where(kv => kv.Value is not null).ToDictionary();
            var clean = body.Where(kv => kv.Value is not null).ToDictionary();
            return CallAsync(HttpMethod.Put, p.GetValue(adminUrl)!, $"/admin/peers/{Uri.EscapeDataString(p.GetValue(id)!)}", clean, ct);
        });

        var list = new Command("list", "List peers: relation, connected, balance, in flight");
        var listUrl = AdminUrl();
        list.Options.Add(listUrl);
        list.SetAction((p, ct) => CallAsync(HttpMethod.Get, p.GetValue(listUrl)!, "/admin/peers", null, ct));

        var removeId = new Argument<string>("id") { Description = "Peer id" };
        var force = new Option<bool>("--force") { Description = "Remove even with a non-zero balance or packets in flight" };
        var remove = new Command("remove", "Remove a peer (refused with a balance or packets in flight unless --force)") { removeId, force };
        var removeUrl = AdminUrl();
        remove.Options.Add(removeUrl);
        remove.SetAction((p, ct) => CallAsync(HttpMethod.Delete, p.GetValue(removeUrl)!,
            $"/admin/peers/{Uri.EscapeDataString(p.GetValue(removeId)!)}{(p.GetValue(force) ? "?force=true" : "")}", null, ct));

        return new Command("peers", "Peers of the running connector (admin API, ADMIN_API_TOKEN)") { add, list, remove };
    }

    public static Command Routes()
    {
        var prefix = new Argument<string>("prefix") { Description = "ILP address prefix, e.g. g.example" };
        var nextHop = new Argument<string>("next-hop") { Description = "Peer id (or our nodeId for local delivery)" };
        var priority = new Option<string?>("--priority") { Description = "Among static routes with the same prefix the highest wins" };
        var add = new Command("add", "Add (or replace) a static route; static routes win over CCP") { prefix, nextHop, priority };
        var addUrl = AdminUrl();
        add.Options.Add(addUrl);
        add.SetAction((p, ct) => CallAsync(HttpMethod.Post, p.GetValue(addUrl)!, "/admin/routes",
            new Dictionary<string, object?> { ["prefix"] = p.GetValue(prefix), ["nextHop"] = p.GetValue(nextHop), ["priority"] = p.GetValue(priority) }
                .Where(kv => kv.Value is not null).ToDictionary(), ct));

        var list = new Command("list", "The routing table: every prefix, its next hop and where it came from (static, child, parent, ccp)");
        var listUrl = AdminUrl();
        list.Options.Add(listUrl);
        list.SetAction((p, ct) => CallAsync(HttpMethod.Get, p.GetValue(listUrl)!, "/admin/routes", null, ct));

        var removePrefix = new Argument<string>("prefix") { Description = "Prefix of the static route" };
        var remove = new Command("remove", "Remove a static route") { removePrefix };
        var removeUrl = AdminUrl();
        remove.Options.Add(removeUrl);
        remove.SetAction((p, ct) => CallAsync(HttpMethod.Delete, p.GetValue(removeUrl)!, $"/admin/routes/{Uri.EscapeDataString(p.GetValue(removePrefix)!)}", null, ct));

        return new Command("routes", "Routes of the running connector (admin API, ADMIN_API_TOKEN)") { add, list, remove };
    }

    private static Option<string> AdminUrl() => new("--url")
    {
        Description = "The connector's HTTP port",
        DefaultValueFactory = _ => $"http://127.0.0.1:{M2M.Server.Configuration.ConfigLoader.Variable("HEALTH_CHECK_PORT") ?? "8080"}",
    };

    /// <summary>Prints the answer; exit 0 on 2xx, 1 otherwise with one line naming the problem.</summary>
    private static async Task<int> CallAsync(HttpMethod method, string baseUrl, string path, object? body, CancellationToken ct)
    {
        string? token = M2M.Server.Configuration.ConfigLoader.Variable("ADMIN_API_TOKEN");
        if (string.IsNullOrEmpty(token))
        {
            Console.Error.WriteLine("error: set ADMIN_API_TOKEN to the connector's admin token");
            return 1;
        }
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        try
        {
            using var request = new HttpRequestMessage(method, baseUrl.TrimEnd('/') + path);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            if (body is not null) request.Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
            using var response = await http.SendAsync(request, ct);
            string text = await response.Content.ReadAsStringAsync(ct);
            if (response.IsSuccessStatusCode)
            {
                Console.WriteLine(text.Length == 0 ? "ok" : text);
                return 0;
            }
            string message = text;
            try
            {
                using var doc = JsonDocument.Parse(text);
                if (doc.RootElement.TryGetProperty("error", out var e)) message = e.GetString() ?? text;
            }
            catch (JsonException)
            {
            }
            Console.Error.WriteLine($"error: {(int)response.StatusCode} {message}");
            return 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or UriFormatException or InvalidOperationException)
        {
            Console.Error.WriteLine($"error: {baseUrl}: {e.Message}");
            return 1;
        }
    }
}
