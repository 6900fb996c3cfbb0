using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using M2M.TestKit;

namespace M2M.Interop.Tests;

/// <summary>A node of a mixed network: the JavaScript ilp-connector 23 (tests/interop/js-connector-node.js), with a STREAM endpoint as its child.</summary>
internal sealed class JsNode : IAsyncDisposable
{
    private int _commands;

    private JsNode(NodePeer process) => Process = process;

    public NodePeer Process { get; }

    public string Address { get; private set; } = "";

    /// <summary>Starts the node; <paramref name="config"/> is js-connector-node.js's JSON config (accounts, ilpAddress, stream).</summary>
    public static async Task<JsNode> StartAsync(string name, object config)
    {
        var node = new JsNode(NodePeer.Start(name, "js-connector-node.js", JsonSerializer.Serialize(config), "--timeout-ms", "0"));
        try
        {
            node.Address = (await node.Process.WaitForAsync("ready", TimeSpan.FromSeconds(30))).Str("address");
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
        return node;
    }

    public static int FreePort() => LoopbackPort.Free();

    /// <summary>Its address, local routing table (prefix → next hop) and per-account balances.</summary>
    public async Task<(string Address, Dictionary<string, string> Routes, Dictionary<string, long> Balances)> InfoAsync()
    {
        int before = Process.EventsNamed("info").Count;
        await Process.SendLineAsync("{\"cmd\":\"info\"}");
        var info = (await Process.WaitForCountAsync("info", before + 1))[before];
        var routes = info.GetProperty("routes").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetProperty("nextHop").GetString()!);
        var balances = info.GetProperty("balances").GetProperty("accounts").EnumerateObject()
            .ToDictionary(p => p.Name, p => long.Parse(p.Value.GetProperty("balance").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
        return (info.Str("address"), routes, balances);
    }

    /// <summary>Polls the node's routing table until <paramref name="condition"/> holds.</summary>
    public async Task WaitForRoutesAsync(Func<Dictionary<string, string>, bool> condition, string description, double seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        Dictionary<string, string> routes;
        while (!condition(routes = (await InfoAsync()).Routes))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{description} not met within {seconds} s; routes: {JsonSerializer.Serialize(routes)}{Process.Diagnostics()}");
            await Task.Delay(200);
        }
    }

    /// <summary>A fresh STREAM receiver at this node: its address and shared secret.</summary>
    public async Task<(string Destination, string SharedSecret)> ReceiverAsync()
    {
        int before = Process.EventsNamed("receiver").Count;
        await Process.SendLineAsync("{\"cmd\":\"receiver\"}");
        var r = (await Process.WaitForCountAsync("receiver", before + 1))[before];
        return (r.Str("destination"), r.Str("sharedSecret"));
    }

    /// <summary>Sends <paramref name="amount"/> by STREAM from this node's endpoint; returns (sent, delivered) as STREAM counted them.</summary>
    public async Task<(long Sent, long Delivered)> PayAsync((string Destination, string SharedSecret) to, long amount)
    {
        string id = "p" + Interlocked.Increment(ref _commands);
        await Process.SendLineAsync(JsonSerializer.Serialize(new { cmd = "pay", id, destination = to.Destination, sharedSecret = to.SharedSecret, amount = amount.ToString(System.Globalization.CultureInfo.InvariantCulture) }));
        await Process.WaitUntilAsync(events => events.Any(e => IsFor(e, id)), $"payment {id}", TimeSpan.FromSeconds(40));
        var result = Process.Events.First(e => IsFor(e, id));
        if (!NodePeer.Is(result, "paid")) throw new InvalidOperationException($"STREAM payment failed: {result.GetRawText()}{Process.Diagnostics()}");
        return (long.Parse(result.Str("sent"), System.Globalization.CultureInfo.InvariantCulture), long.Parse(result.Str("delivered"), System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// Sends an echo request (ilp-connector's echo protocol) from this node's "pinger" child (config <c>pinger: {port}</c>)
    /// to <paramref name="destination"/>; the pinger fulfills the echo response when it comes back.
    /// </summary>
    public async Task<(bool Fulfilled, string? Code, string? Message, int Echoes)> PingAsync(string destination, long amount)
    {
        string id = "e" + Interlocked.Increment(ref _commands);
        await Process.SendLineAsync(JsonSerializer.Serialize(new { cmd = "ping", id, destination, amount = amount.ToString(System.Globalization.CultureInfo.InvariantCulture) }));
        await Process.WaitUntilAsync(events => events.Any(e => IsFor(e, id)), $"ping {id}", TimeSpan.FromSeconds(30));
        var result = Process.Events.First(e => IsFor(e, id));
        if (!NodePeer.Is(result, "pinged")) throw new InvalidOperationException($"ping failed: {result.GetRawText()}{Process.Diagnostics()}");
        string? Opt(string name) => result.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        return (result.Bool("fulfilled"), Opt("code"), Opt("message"), result.Int("echoes"));
    }

    /// <summary>What this node's STREAM server has received in all (the sum of its money events).</summary>
    public long ReceivedTotal => Process.EventsNamed("money").Sum(e => long.Parse(e.Str("amount"), System.Globalization.CultureInfo.InvariantCulture));

    private static bool IsFor(JsonElement e, string id) => e.TryGetProperty("id", out var v) && v.ValueKind == JsonValueKind.String && v.GetString() == id;

    public ValueTask DisposeAsync() => Process.DisposeAsync();
}
