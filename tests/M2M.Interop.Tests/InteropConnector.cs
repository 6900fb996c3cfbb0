using System.Text.Json;
using M2M.Server;
using M2M.Server.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Interop.Tests;

/// <summary>Our connector on 127.0.0.1 with ephemeral ports, plus helpers shared by the interop tests.</summary>
internal static class InteropConnector
{
    public static async Task<ConnectorHost> StartAsync(ConnectorSettings settings)
    {
        // Each connector gets its own real SQLite ledger file.
        var ledger = settings.Ledger with { Path = Path.Combine(Path.GetTempPath(), "m2m-interop", Guid.NewGuid().ToString("N"), "ledger.db") };
        var host = await ConnectorHost.CreateAsync(settings with { BindAddress = "127.0.0.1", BtpServerPort = 0, HealthCheckPort = 0, Ledger = ledger }, NullLoggerFactory.Instance);
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await host.StartAsync(cts.Token);
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
        return host;
    }

    public static async Task WaitUntil(Func<bool> condition, string description, double seconds = 10, Func<string>? diagnostics = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not met within {seconds} s: {description}{diagnostics?.Invoke()}");
            await Task.Delay(20);
        }
    }

    /// <summary>Disposes the peers (in parallel) and then the host, even if one of them throws.</summary>
    public static async Task DisposeAllAsync(ConnectorHost? host, params NodePeer?[] peers)
    {
        try
        {
            await Task.WhenAll(peers.Where(p => p is not null).Select(p => p!.DisposeAsync().AsTask()));
        }
        finally
        {
            if (host is not null) await host.DisposeAsync();
        }
    }

    public static string Str(this JsonElement e, string property) =>
        e.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new KeyNotFoundException($"no string '{property}' in {e.GetRawText()}");

    public static int Int(this JsonElement e, string property) =>
        e.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : throw new KeyNotFoundException($"no number '{property}' in {e.GetRawText()}");

    public static bool Bool(this JsonElement e, string property) =>
        e.TryGetProperty(property, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw new KeyNotFoundException($"no bool '{property}' in {e.GetRawText()}");
}
