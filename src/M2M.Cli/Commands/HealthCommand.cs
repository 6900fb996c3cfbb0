using System.CommandLine;
using System.Text.Json;

namespace M2M.Cli;

internal static class HealthCommand
{
    public static Command Create()
    {
        var url = new Option<string>("--url")
        {
            Description = "Health endpoint to query",
            DefaultValueFactory = _ => $"http://127.0.0.1:{M2M.Server.Configuration.ConfigLoader.Variable("HEALTH_CHECK_PORT") ?? "8080"}/health",
        };
        var command = new Command("health", "Query /health; exit 0 healthy, 2 degraded, 1 otherwise.") { url };
        command.SetAction((parse, ct) => QueryAsync(parse.GetValue(url)!, ct));
        return command;
    }

    private static async Task<int> QueryAsync(string url, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await http.GetAsync(url, ct);
            string body = await response.Content.ReadAsStringAsync(ct);
            Console.WriteLine(body);
            using var doc = JsonDocument.Parse(body);
            string? status = doc.RootElement.TryGetProperty("status", out var s) ? s.GetString() : null;
            return status switch { "healthy" => 0, "degraded" => 2, _ => 1 };
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or UriFormatException or InvalidOperationException)
        {
            Console.Error.WriteLine($"unhealthy: {url}: {e.Message}");
            return 1;
        }
    }
}
