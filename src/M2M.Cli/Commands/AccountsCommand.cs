using System.CommandLine;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace M2M.Cli;

/// <summary>
/// `accounts add|list|remove` and `pay`: the hosted-account admin API and the send API of a running
/// connector (its HTTP port and admin token come from the same config and environment as `run`).
/// </summary>
internal static class AccountsCommand
{
    public static Command Create()
    {
        var id = new Argument<string>("ID") { Description = "Account id (A-Z a-z 0-9 _ ~ -); its address is <our address>.<ID>" };
        var assetCode = new Option<string?>("--asset-code") { Description = "Asset code (default: the first peer's, else USD)" };
        var assetScale = new Option<byte?>("--asset-scale") { Description = "Asset scale (default: the first peer's, else 9)" };
        var add = new Command("add", "Create a hosted account (idempotent); prints its payment pointer and, once, its API token.") { id, assetCode, assetScale };
        Common(add, out var config, out var url);
        add.SetAction((parse, ct) => RunAsync(parse.GetValue(config), parse.GetValue(url), async (http, ct2) =>
        {
            var body = new Dictionary<string, object?> { ["id"] = parse.GetValue(id), ["assetCode"] = parse.GetValue(assetCode), ["assetScale"] = parse.GetValue(assetScale) };
            var json = await SendAsync(http, HttpMethod.Post, "/admin/accounts", body, ct2);
            Console.WriteLine($"account {json.GetProperty("id").GetString()}: {(json.GetProperty("created").GetBoolean() ? "created" : "exists")}");
            Console.WriteLine($"  address          {json.GetProperty("ilpAddress").GetString()}");
            Console.WriteLine($"  payment pointer  {json.GetProperty("paymentPointer").GetString()}");
            Console.WriteLine($"  balance          {json.GetProperty("balance").GetString()} ({json.GetProperty("assetCode").GetString()}, scale {json.GetProperty("assetScale").GetInt32()})");
            Console.WriteLine(json.GetProperty("token").GetString() is { } token ? $"  token            {token}\n  (shown once: store it now; it is kept hashed)" : "  token            (shown only when the account was created)");
            return 0;
        }, ct));
        var list = new Command("list", "List hosted accounts and their balances.");
        Common(list, out var listConfig, out var listUrl);
        list.SetAction((parse, ct) => RunAsync(parse.GetValue(listConfig), parse.GetValue(listUrl), async (http, ct2) =>
        {
            var json = await SendAsync(http, HttpMethod.Get, "/admin/accounts", null, ct2);
            foreach (var a in json.EnumerateArray())
                Console.WriteLine($"{a.GetProperty("id").GetString(),-24} {a.GetProperty("balance").GetString(),20} {a.GetProperty("assetCode").GetString()}/{a.GetProperty("assetScale").GetInt32()}  {a.GetProperty("ilpAddress").GetString()}");
            Console.WriteLine($"{json.GetArrayLength()} accounts");
            return 0;
        }, ct));
        var removeId = new Argument<string>("ID") { Description = "Account id" };
        var remove = new Command("remove", "Remove a hosted account (idempotent; refused while it holds money).") { removeId };
        Common(remove, out var removeConfig, out var removeUrl);
        remove.SetAction((parse, ct) => RunAsync(parse.GetValue(removeConfig), parse.GetValue(removeUrl), async (http, ct2) =>
        {
            var json = await SendAsync(http, HttpMethod.Delete, $"/admin/accounts/{Uri.EscapeDataString(parse.GetValue(removeId)!)}", null, ct2);
            Console.WriteLine($"account {parse.GetValue(removeId)}: {(json.GetProperty("deleted").GetBoolean() ? "removed" : "did not exist")}");
            return 0;
        }, ct));
        return new Command("accounts", "Hosted agent accounts of a running connector (admin API).") { add, list, remove };
    }

    internal static void Common(Command command, out Option<string?> config, out Option<string?> url)
    {
        config = CommonOptions.Config();
        url = new Option<string?>("--url") { Description = "The connector's HTTP base URL (default http://127.0.0.1:<healthCheckPort>)" };
        command.Options.Add(config);
        command.Options.Add(url);
    }

    /// <summary>Loads the settings (admin token, HTTP port), runs <paramref name="action"/>; one line and exit 1 on any failure.</summary>
    internal static async Task<int> RunAsync(string? configPath, string? url, Func<HttpClient, CancellationToken, Task<int>> action, CancellationToken ct, string? token = null)
    {
        if (BackupCommand.LoadSettings(configPath) is not { } settings) return 1;
        token ??= settings.AdminApiToken;
        if (string.IsNullOrEmpty(token))
        {
            Console.Error.WriteLine("error: no admin token: set ADMIN_API_TOKEN (or admin.apiToken in the config)");
            return 1;
        }
        if (!Uri.TryCreate(url ?? $"http://127.0.0.1:{settings.HealthCheckPort}", UriKind.Absolute, out var baseUri) || baseUri.Scheme is not ("http" or "https"))
        {
            Console.Error.WriteLine($"error: --url '{url}' is not an http(s) URL");
            return 1;
        }
        using var http = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(15) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        try
        {
            return await action(http, ct);
        }
        catch (ApiException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            Console.Error.WriteLine($"error: cannot reach the connector at {baseUri}: {e.Message}");
            return 1;
        }
    }

    internal static async Task<JsonElement> SendAsync(HttpClient http, HttpMethod method, string path, object? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        using var response = await http.SendAsync(request, ct);
        string text = await response.Content.ReadAsStringAsync(ct);
        JsonElement json;
        try
        {
            json = JsonDocument.Parse(text).RootElement;
        }
        catch (JsonException)
        {
            throw new ApiException($"{method} {path}: HTTP {(int)response.StatusCode}, not JSON");
        }
        if (!response.IsSuccessStatusCode)
            throw new ApiException($"{method} {path}: HTTP {(int)response.StatusCode}: {(json.ValueKind == JsonValueKind.Object && json.TryGetProperty("error", out var e) ? e.GetString() : text)}");
        return json;
    }

    internal sealed class ApiException(string message) : Exception(message);
}
