using System.Buffers;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;

namespace M2M.Btp;

/// <summary>
/// Outgoing BTP peer: keeps one authenticated <see cref="BtpSession"/> to <c>url</c> alive, reconnecting
/// with exponential backoff (100 ms doubling to 30 s, ±20 % jitter, reset after a successful auth).
/// </summary>
public sealed class BtpClient : IAsyncDisposable
{
    private static readonly TimeSpan InitialBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);
    private const double JitterFraction = 0.2;
    private const int BackoffFactor = 2;

    private readonly Uri _url;
    private readonly string _authUsername;
    private readonly string _authToken;
    private readonly IBtpMessageHandler _handler;
    private readonly BtpLimits _limits;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private Task? _loop;
    private volatile BtpSession? _current;
    private int _disposed;

    /// <param name="url">ws, wss, btp+ws or btp+wss. Userinfo <c>user:token@</c> supplies credentials
    /// when <paramref name="authUsername"/>/<paramref name="authToken"/> are empty (ilp-plugin-btp style).</param>
    public BtpClient(string peerId, Uri url, string authUsername, string authToken, IBtpMessageHandler handler,
        BtpLimits limits, ILogger logger, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(peerId);
        ArgumentNullException.ThrowIfNull(url);
        PeerId = peerId;
        (_url, string urlUser, string urlToken) = ParseUrl(url);
        _authUsername = string.IsNullOrEmpty(authUsername) ? urlUser : authUsername;
        _authToken = string.IsNullOrEmpty(authToken) ? urlToken : authToken;
        _handler = handler ?? throw new ArgumentNullException(nameof(handler));
        _limits = limits ?? throw new ArgumentNullException(nameof(limits));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _time = time ?? TimeProvider.System;
    }

    public string PeerId { get; }

    /// <summary>The WebSocket URL actually dialled (btp+ prefix and credentials removed).</summary>
    public Uri Url => _url;

    /// <summary>The live session, or null while (re)connecting.</summary>
    public BtpSession? Current => _current;

    public event Action<BtpSession>? Connected;
    public event Action<string>? Disconnected;

    /// <summary>The server refused our credentials (BTP ERROR to the auth message); the argument is its code, name and data. The loop still retries unless disposed.</summary>
    public event Action<string>? AuthRejected;

    /// <summary>Starts the connect/reconnect loop. Idempotent.</summary>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        lock (_gate)
        {
            _loop ??= Task.Run(() => RunAsync(_stop.Token));
        }
    }

    /// <summary>Stops reconnecting and closes the current session cleanly (the loop does the close).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        Task? loop;
        lock (_gate) loop = _loop;
        if (loop is not null) await loop.ConfigureAwait(false);
    }

    /// <summary>Maps btp+ws/btp+wss to ws/wss, strips userinfo and returns it as (user, token).</summary>
    internal static (Uri Url, string User, string Token) ParseUrl(Uri url)
    {
        if (!url.IsAbsoluteUri) throw new ArgumentException("BTP URL must be absolute.", nameof(url));
        string scheme = url.Scheme.ToLowerInvariant() switch
        {
            "ws" or "btp+ws" => "ws",
            "wss" or "btp+wss" => "wss",
            _ => throw new ArgumentException($"Unsupported BTP URL scheme '{url.Scheme}'.", nameof(url)),
        };
        var builder = new UriBuilder(url) { Scheme = scheme, UserName = "", Password = "" };
        if (url.IsDefaultPort || url.Port < 0) builder.Port = -1;
        string[] parts = url.UserInfo.Split(':', 2);
        string user = Uri.UnescapeDataString(parts[0]);
        string token = parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "";
        return (builder.Uri, user, token);
    }

    private async Task RunAsync(CancellationToken stop)
    {
        var backoff = InitialBackoff;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var session = await ConnectAsync(stop).ConfigureAwait(false);
                backoff = InitialBackoff;
                await RunSessionAsync(session, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                BtpLog.ConnectFailed(_logger, PeerId, ex.Message, backoff);
            }
            if (!await DelayAsync(Jitter(backoff), stop).ConfigureAwait(false)) return;
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * BackoffFactor, MaxBackoff.Ticks));
        }
    }

    private async Task RunSessionAsync(BtpSession session, CancellationToken stop)
    {
        _current = session;
        BtpLog.Connected(_logger, PeerId);
        Raise(() => Connected?.Invoke(session));
        try
        {
            await session.Completion.WaitAsync(stop).ConfigureAwait(false);
        }
        finally
        {
            if (stop.IsCancellationRequested) await session.CloseAsync().ConfigureAwait(false);
            _current = null;
            BtpLog.Disconnected(_logger, PeerId);
            Raise(() => Disconnected?.Invoke(PeerId));
        }
    }

    private async Task<BtpSession> ConnectAsync(CancellationToken stop)
    {
        BtpLog.Connecting(_logger, PeerId, _url.GetLeftPart(UriPartial.Path));
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = _limits.KeepAliveInterval;
        // Our own connection stream under the WebSocket, so the session can send queued frames in one write.
        CorkableStream? stream = null;
        var invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                var tcp = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await tcp.ConnectAsync(context.DnsEndPoint, ct).ConfigureAwait(false);
                }
                catch
                {
                    tcp.Dispose();
                    throw;
                }
                stream = new CorkableStream(new NetworkStream(tcp, ownsSocket: true));
                return stream;
            },
        });
        try
        {
            using var timeout = new CancellationTokenSource(_limits.AuthTimeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, timeout.Token);
            await socket.ConnectAsync(_url, invoker, linked.Token).ConfigureAwait(false);
            await AuthenticateAsync(socket, linked.Token).ConfigureAwait(false);
        }
        catch
        {
            socket.Abort();
            socket.Dispose();
            invoker.Dispose();
            throw;
        }
        WebSocket wrapped = stream is null ? socket : new BtpWebSocket(socket, stream, invoker);
        var session = new BtpSession(wrapped, PeerId, _handler, _limits, _logger, _time);
        session.Start();
        return session;
    }

    /// <summary>Sends auth MESSAGE and waits for the matching RESPONSE; throws on anything else.</summary>
    private async Task AuthenticateAsync(ClientWebSocket socket, CancellationToken ct)
    {
        uint requestId = (uint)RandomNumberGenerator.GetInt32(1, int.MaxValue);
        await BtpFrameIO.SendAsync(socket, AuthPacket(requestId), ct).ConfigureAwait(false);
        byte[] buffer = BtpFrameIO.RentReceiveBuffer(_limits);
        try
        {
            var frame = await BtpFrameIO.ReceiveAsync(socket, buffer, _limits.MaxFrameBytes, ct).ConfigureAwait(false);
            if (frame.Kind != FrameKind.Binary) throw new BtpException($"auth failed: server sent {frame.Kind}");
            if (BtpCodec.TryDecode(buffer.AsMemory(0, frame.Length), out var reply, out var error) != OperationStatus.Done)
                throw new BtpException($"auth failed: malformed reply ({error})");
            CheckAuthReply(reply!, requestId);
        }
        finally
        {
            BtpFrameIO.Return(buffer);
        }
    }

    private void CheckAuthReply(BtpPacket reply, uint requestId)
    {
        if (reply.Type == BtpPacketType.Error)
        {
            string data = Encoding.UTF8.GetString(reply.ErrorData.Span);
            BtpLog.ClientAuthRejected(_logger, PeerId, reply.Code, reply.Name, data);
            Raise(() => AuthRejected?.Invoke($"{reply.Code} {reply.Name} {data}".TrimEnd()));
            throw new BtpRemoteException(reply.Code, reply.Name, reply.TriggeredAt, reply.ErrorData.ToArray());
        }
        if (reply.Type != BtpPacketType.Response || reply.RequestId != requestId)
            throw new BtpException($"auth failed: unexpected {reply.Type} for request {reply.RequestId}");
    }

    private BtpPacket AuthPacket(uint requestId) => BtpPacket.Message(requestId,
    [
        new(BtpProtocolNames.Auth, BtpContentType.ApplicationOctetStream, ReadOnlyMemory<byte>.Empty),
        new(BtpProtocolNames.AuthUsername, BtpContentType.TextPlainUtf8, Encoding.UTF8.GetBytes(_authUsername)),
        new(BtpProtocolNames.AuthToken, BtpContentType.TextPlainUtf8, Encoding.UTF8.GetBytes(_authToken)),
    ]);

    private static TimeSpan Jitter(TimeSpan delay)
    {
        double factor = 1 + (Random.Shared.NextDouble() * 2 - 1) * JitterFraction;
        return TimeSpan.FromTicks((long)(delay.Ticks * factor));
    }

    /// <summary>False if stopped while waiting.</summary>
    private async Task<bool> DelayAsync(TimeSpan delay, CancellationToken stop)
    {
        try
        {
            await Task.Delay(delay, _time, stop).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private void Raise(Action raise)
    {
        try
        {
            raise();
        }
        catch (Exception ex)
        {
            BtpLog.EventHandlerFailed(_logger, PeerId, ex);
        }
    }
}
