using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using M2M.Btp;
using M2M.Server;
using M2M.Server.Configuration;
using Microsoft.Extensions.Logging;

namespace M2M.Reliability.Tests;

/// <summary>A connector in this process on 127.0.0.1 with ephemeral ports and its own SQLite file.</summary>
internal static class Connector
{
    public static async Task<ConnectorHost> StartAsync(ConnectorSettings settings, ILoggerFactory? loggers = null)
    {
        if (settings.Ledger.Backend == LedgerBackend.Sqlite && settings.Ledger.Path == new LedgerSettings().Path)
            settings = settings with { Ledger = settings.Ledger with { Path = Path.Combine(Path.GetTempPath(), "m2m-rel", Guid.NewGuid().ToString("N"), "ledger.db") } };
        var host = await ConnectorHost.CreateAsync(settings with { BindAddress = "127.0.0.1", BtpServerPort = 0, HealthCheckPort = 0 },
            loggers ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        await host.StartAsync(CancellationToken.None);
        return host;
    }

    /// <summary>alice and bob connect in; each has a route to its own prefix.</summary>
    public static ConnectorSettings TwoPeers(params PeerSettings[] extra) => new()
    {
        NodeId = "conn",
        IlpAddress = "g.conn",
        AdminApiToken = "admin-token",
        Peers = [new PeerSettings { Id = "alice", AuthToken = "alice-secret" }, new PeerSettings { Id = "bob", AuthToken = "bob-secret" }, .. extra],
        Routes = [new("g.alice", "alice"), new("g.bob", "bob"), .. extra.Select(p => new M2M.Core.Routing.Route("g." + p.Id, p.Id))],
    };
}

/// <summary>
/// A wire-level BTP client that can bind its source address (127.0.0.x: the auth limiter is per
/// source), and misbehave: stay silent, send any frame.
/// </summary>
internal sealed class RawBtpClient : IAsyncDisposable
{
    public ClientWebSocket Socket { get; } = new();

    public static async Task<RawBtpClient> ConnectAsync(int port, string sourceIp = "127.0.0.1", CancellationToken ct = default)
    {
        var client = new RawBtpClient();
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, token) =>
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                s.Bind(new IPEndPoint(IPAddress.Parse(sourceIp), 0));
                await s.ConnectAsync(context.DnsEndPoint, token);
                return new NetworkStream(s, ownsSocket: true);
            },
        };
        await client.Socket.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/"), new HttpMessageInvoker(handler), ct);
        return client;
    }

    public static BtpPacket Auth(string username, string token) => BtpPacket.Message(1,
    [
        new(BtpProtocolNames.Auth, BtpContentType.ApplicationOctetStream, ReadOnlyMemory<byte>.Empty),
        new(BtpProtocolNames.AuthUsername, BtpContentType.TextPlainUtf8, Encoding.UTF8.GetBytes(username)),
        new(BtpProtocolNames.AuthToken, BtpContentType.TextPlainUtf8, Encoding.UTF8.GetBytes(token)),
    ]);

    public Task SendAsync(BtpPacket packet) => SendAsync(BtpCodec.Encode(packet));

    public Task SendAsync(byte[] frame) => Socket.SendAsync(frame, WebSocketMessageType.Binary, true, CancellationToken.None);

    /// <summary>The next BTP packet, or null when the server closed instead; also returns the close status.</summary>
    public async Task<(BtpPacket? Packet, WebSocketCloseStatus? Close)> ReceiveAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[70_000];
        int count = 0;
        while (true)
        {
            var r = await Socket.ReceiveAsync(buffer.AsMemory(count), cts.Token);
            if (r.MessageType == WebSocketMessageType.Close) return (null, Socket.CloseStatus);
            count += r.Count;
            if (!r.EndOfMessage) continue;
            BtpCodec.TryDecode(buffer.AsMemory(0, count), out var packet, out _);
            return (packet, null);
        }
    }

    /// <summary>Auth, and the error text if refused (null when accepted).</summary>
    public async Task<string?> AuthenticateAsync(string username, string token)
    {
        await SendAsync(Auth(username, token));
        var (packet, _) = await ReceiveAsync(TimeSpan.FromSeconds(10));
        if (packet is null) return "closed";
        return packet.Type == BtpPacketType.Response ? null : Encoding.UTF8.GetString(packet.ErrorData.Span);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Socket.State == WebSocketState.Open)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", cts.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }
        Socket.Dispose();
    }
}

/// <summary>Keeps every formatted log line (with exceptions) so a test can grep them.</summary>
internal sealed class CapturingLoggerFactory : ILoggerFactory, ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public string All => string.Join("\n", Lines);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void AddProvider(ILoggerProvider provider) { }

    public void Dispose() { }

    private sealed class Logger(CapturingLoggerFactory owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Lines.Enqueue($"{logLevel} {category} [{eventId.Id}] {formatter(state, exception)} {exception}");
    }
}

/// <summary>CPU-bound and timing-sensitive tests run alone, after the parallel ones (2-core CI machines).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "serial: timing-sensitive or CPU-bound";
}
