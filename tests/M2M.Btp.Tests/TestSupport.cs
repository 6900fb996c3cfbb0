using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace M2M.Btp.Tests;

internal static class TestTimeouts
{
    /// <summary>Upper bound for any single await in a test.</summary>
    public static readonly TimeSpan Step = TimeSpan.FromSeconds(10);
}

/// <summary>Handler from delegates; ILP default echoes the packet with 0xEE prepended; sub-protocol and TRANSFER default to the contract's defaults.</summary>
internal sealed class DelegateHandler(
    Func<BtpSession, ReadOnlyMemory<byte>, CancellationToken, ValueTask<ReadOnlyMemory<byte>>>? handle = null,
    Func<BtpSession, BtpProtocolData, ValueTask<BtpProtocolData?>>? subProtocol = null,
    Func<BtpSession, BtpTransferRequest, ValueTask>? transfer = null)
    : IBtpMessageHandler
{
    public ValueTask<ReadOnlyMemory<byte>> HandleIlpAsync(BtpSession session, ReadOnlyMemory<byte> ilpPacket, CancellationToken ct) =>
        handle is null ? ValueTask.FromResult(Echo(ilpPacket)) : handle(session, ilpPacket, ct);

    public ValueTask<BtpProtocolData?> HandleSubProtocolAsync(BtpSession session, BtpProtocolData entry, CancellationToken ct) =>
        subProtocol is null ? ValueTask.FromResult<BtpProtocolData?>(null) : subProtocol(session, entry);

    public ValueTask HandleTransferAsync(BtpSession session, BtpTransferRequest request, CancellationToken ct) =>
        transfer is null ? ContractDefaults.Instance.HandleTransferAsync(session, request, ct) : transfer(session, request);

    /// <summary>A handler that implements only ILP, to reach the contract's default TRANSFER handling.</summary>
    private sealed class ContractDefaults : IBtpMessageHandler
    {
        public static readonly IBtpMessageHandler Instance = new ContractDefaults();

        public ValueTask<ReadOnlyMemory<byte>> HandleIlpAsync(BtpSession session, ReadOnlyMemory<byte> ilpPacket, CancellationToken ct) =>
            ValueTask.FromResult(Echo(ilpPacket));
    }

    public static ReadOnlyMemory<byte> Echo(ReadOnlyMemory<byte> ilp) => (byte[])[0xEE, .. ilp.Span];
}

/// <summary>Collects formatted log lines so tests can check what was (not) logged.</summary>
internal sealed class ListLogger : ILogger
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Lines.Enqueue($"{eventId.Id} {formatter(state, exception)} {exception}");
}

/// <summary>Kestrel on 127.0.0.1:0 accepting BTP at /btp.</summary>
internal sealed class BtpTestServer : IAsyncDisposable
{
    public const string User = "alice";
    public const string Token = "correct-horse-battery-staple";
    public const string PeerId = "peer-alice";

    private readonly WebApplication _app;
    private readonly Channel<BtpSession> _accepted = Channel.CreateUnbounded<BtpSession>();

    private BtpTestServer(WebApplication app) => _app = app;

    public Uri Url { get; private set; } = null!;
    public ListLogger Logger { get; } = new();

    public static async Task<BtpTestServer> StartAsync(IBtpMessageHandler handler, BtpLimits? limits = null, Action<BtpSession>? attach = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var server = new BtpTestServer(app);
        app.UseWebSockets();
        app.Map("/btp", ctx => server.AcceptAsync(ctx, handler, limits ?? BtpLimits.Default, attach));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        server.Url = new Uri(address.Replace("http://", "ws://", StringComparison.Ordinal) + "/btp");
        return server;
    }

    /// <summary>Next successfully authenticated server-side session.</summary>
    public async Task<BtpSession> NextSessionAsync() =>
        await _accepted.Reader.ReadAsync().AsTask().WaitAsync(TestTimeouts.Step);

    public static string? Authenticate(string user, string token)
    {
        // Constant-time compare, as the real server config does.
        bool ok = user == User && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(token), Encoding.UTF8.GetBytes(Token));
        return ok ? PeerId : null;
    }

    private async Task AcceptAsync(HttpContext ctx, IBtpMessageHandler handler, BtpLimits limits, Action<BtpSession>? attach)
    {
        if (!ctx.WebSockets.IsWebSocketRequest)
        {
            ctx.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        using var socket = await ctx.WebSockets.AcceptWebSocketAsync();
        var session = await BtpServerHandshake.AcceptAsync(socket, Authenticate, handler, limits, Logger, ctx.RequestAborted, attach: attach);
        if (session is null) return;
        _accepted.Writer.TryWrite(session);
        await session.Completion;
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TestTimeouts.Step);
        await _app.StopAsync(cts.Token);
        await _app.DisposeAsync();
    }
}

/// <summary>Bare ClientWebSocket speaking BTP by hand, to observe exactly what the server sends.</summary>
internal sealed class RawBtpClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket = new();
    private readonly byte[] _buffer = new byte[1 << 17];

    public WebSocket Socket => _socket;

    public static async Task<RawBtpClient> ConnectAsync(Uri url)
    {
        var client = new RawBtpClient();
        using var cts = new CancellationTokenSource(TestTimeouts.Step);
        await client._socket.ConnectAsync(url, cts.Token);
        return client;
    }

    public static BtpPacket AuthPacket(uint requestId, string user, string token) => BtpPacket.Message(requestId,
    [
        new(BtpProtocolNames.Auth, BtpContentType.ApplicationOctetStream, ReadOnlyMemory<byte>.Empty),
        new(BtpProtocolNames.AuthUsername, BtpContentType.TextPlainUtf8, Encoding.UTF8.GetBytes(user)),
        new(BtpProtocolNames.AuthToken, BtpContentType.TextPlainUtf8, Encoding.UTF8.GetBytes(token)),
    ]);

    public async Task AuthenticateAsync(string user = BtpTestServer.User, string token = BtpTestServer.Token)
    {
        await SendAsync(AuthPacket(1, user, token));
        var reply = await ReceivePacketAsync();
        Assert.Equal(BtpPacketType.Response, reply.Type);
        Assert.Equal(1u, reply.RequestId);
    }

    public Task SendAsync(BtpPacket packet) => SendBytesAsync(BtpCodec.Encode(packet));

    public async Task SendBytesAsync(byte[] bytes, WebSocketMessageType type = WebSocketMessageType.Binary)
    {
        using var cts = new CancellationTokenSource(TestTimeouts.Step);
        await _socket.SendAsync(bytes, type, endOfMessage: true, cts.Token);
    }

    public async Task<BtpPacket> ReceivePacketAsync()
    {
        var (type, length) = await ReceiveMessageAsync();
        Assert.Equal(WebSocketMessageType.Binary, type);
        Assert.Equal(OperationStatus.Done, BtpCodec.TryDecode(_buffer.AsSpan(0, length).ToArray(), out var packet, out var error));
        return packet!;
    }

    /// <summary>Reads until the server's close frame, completes the close handshake, returns the status.</summary>
    public async Task<WebSocketCloseStatus?> ReceiveCloseAsync()
    {
        while (true)
        {
            var (type, _) = await ReceiveMessageAsync();
            if (type != WebSocketMessageType.Close) continue;
            using var cts = new CancellationTokenSource(TestTimeouts.Step);
            await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", cts.Token);
            return _socket.CloseStatus;
        }
    }

    private async Task<(WebSocketMessageType Type, int Length)> ReceiveMessageAsync()
    {
        using var cts = new CancellationTokenSource(TestTimeouts.Step);
        int count = 0;
        while (true)
        {
            var result = await _socket.ReceiveAsync(_buffer.AsMemory(count), cts.Token);
            count += result.Count;
            if (result.EndOfMessage || result.MessageType == WebSocketMessageType.Close) return (result.MessageType, count);
        }
    }

    public ValueTask DisposeAsync()
    {
        _socket.Abort();
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>Two connected WebSockets over a local TCP pair (no HTTP), for handshake unit tests.</summary>
internal static class LoopbackSockets
{
    public static async Task<(WebSocket Server, WebSocket Client)> CreatePairAsync()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        // Not disposed here: GetStream() owns the socket, and the WebSocket owns the stream.
        var client = new System.Net.Sockets.TcpClient();
        var accept = listener.AcceptTcpClientAsync();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port).WaitAsync(TestTimeouts.Step);
        var server = await accept.WaitAsync(TestTimeouts.Step);
        var serverSocket = WebSocket.CreateFromStream(server.GetStream(), new WebSocketCreationOptions { IsServer = true });
        var clientSocket = WebSocket.CreateFromStream(client.GetStream(), new WebSocketCreationOptions { IsServer = false });
        return (serverSocket, clientSocket);
    }
}
