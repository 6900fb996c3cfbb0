using System.Buffers;
using System.CommandLine;
using System.Diagnostics;
using M2M.Btp;
using M2M.Core.Ilp;
using M2M.Server.Configuration;
using Microsoft.Extensions.Logging;

namespace M2M.Cli;

/// <summary>
/// m2m-connector ping: connects to a connector over BTP as one of its configured peers and sends a
/// real ILP Prepare through its packet switch: the ILDCP peer.config request (RFC 31), which the
/// connector fulfills for child peers without moving money. Used by scripts/smoke-test.sh.
/// Exit 0: fulfilled; 3: the connector rejected it (code printed); 4: the connector refused the
/// peer's credentials (one try only: retrying a wrong secret would lock the peer out of the
/// connector's auth limiter); 1: no connection or no answer.
/// </summary>
internal static class PingCommand
{
    public const int Rejected = 3;
    public const int AuthRefused = 4;

    public static Command Create()
    {
        var url = new Option<string>("--url")
        {
            Description = "The connector's BTP WebSocket URL (default ws://127.0.0.1:$BTP_SERVER_PORT, else 3000)",
            DefaultValueFactory = _ => $"ws://127.0.0.1:{M2M.Server.Configuration.ConfigLoader.Variable("BTP_SERVER_PORT") ?? "3000"}/",
        };
        var peer = new Option<string?>("--peer") { Description = "A configured child peer id to connect as (default $SMOKE_PEER_ID)" };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for the connection and the reply", DefaultValueFactory = _ => 10 };
        var command = new Command("ping", "Send a test packet (ILDCP peer.config) through a running connector over BTP, as a configured child peer. " +
            "The peer's secret is read from BTP_PEER_<ID>_SECRET or SMOKE_PEER_SECRET (never from the command line).") { url, peer, timeout };
        command.SetAction((parse, ct) => PingAsync(parse.GetValue(url)!, parse.GetValue(peer), parse.GetValue(timeout)));
        return command;
    }

    private static async Task<int> PingAsync(string urlText, string? peerOption, int timeoutSeconds)
    {
        string? peerId = peerOption ?? Env("SMOKE_PEER_ID");
        if (string.IsNullOrEmpty(peerId)) return Fail("name the peer to connect as: --peer ID (or SMOKE_PEER_ID)");
        string? secret = Env(ConfigLoader.SecretVariable(peerId)) ?? Env("SMOKE_PEER_SECRET");
        if (secret is null) return Fail($"set {ConfigLoader.SecretVariable(peerId)} or SMOKE_PEER_SECRET to peer '{peerId}''s secret");
        if (!Uri.TryCreate(urlText, UriKind.Absolute, out var url) || url.Scheme is not ("ws" or "wss" or "btp+ws" or "btp+wss"))
            return Fail($"--url '{urlText}' is not a ws:// or wss:// URL");
        if (timeoutSeconds is < 1 or > 300) return Fail("--timeout must be from 1 to 300 seconds");

        var log = new LastMessageLogger();
        var connected = new TaskCompletionSource<BtpSession>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = new BtpClient("connector", url, peerId, secret, new RefuseIncoming(), BtpLimits.Default, log);
        var refused = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Connected += s => connected.TrySetResult(s);
        client.AuthRejected += reason => refused.TrySetResult(reason);
        client.Start();
        var started = Stopwatch.GetTimestamp();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        try
        {
            var first = await Task.WhenAny(connected.Task, refused.Task).WaitAsync(deadline.Token);
            if (first == refused.Task)
            {
                await client.DisposeAsync(); // no second try
                Console.Error.WriteLine($"error: {client.Url} refused the credentials of peer '{peerId}' ({await refused.Task}); stopped after one attempt so the peer is not locked out: check the secret");
                return AuthRefused;
            }
            var session = await connected.Task;
            var request = Ildcp.CreateRequest(DateTimeOffset.UtcNow.AddSeconds(Math.Min(timeoutSeconds, 30)));
            var reply = await session.SendIlpAsync(IlpEncoder.ToArray(request), deadline.Token);
            return Report(reply, url, Stopwatch.GetElapsedTime(started));
        }
        catch (OperationCanceledException)
        {
            string why = log.Last is null ? "" : $": {log.Last}";
            return Fail($"no answer from {client.Url} as peer '{peerId}' within {timeoutSeconds} s{why}");
        }
        catch (Exception e) when (e is BtpException or IOException or System.Net.WebSockets.WebSocketException)
        {
            return Fail($"{client.Url}: {e.Message}");
        }
    }

    private static int Report(ReadOnlyMemory<byte> reply, Uri url, TimeSpan elapsed)
    {
        if (IlpCodec.TryDecode(reply, out var packet, out string? error) != OperationStatus.Done)
            return Fail($"the connector sent an invalid ILP reply: {error}");
        switch (packet)
        {
            case IlpFulfill fulfill when Ildcp.TryParseResponse(fulfill.Data.Span, out var config):
                Console.WriteLine($"ping: fulfilled in {elapsed.TotalMilliseconds:F1} ms by {url.Host}:{url.Port}: address {config!.ClientAddress}, asset {config.AssetCode}/{config.AssetScale}");
                return 0;
            case IlpReject reject:
                Console.Error.WriteLine($"ping: rejected {reject.Code} by '{reject.TriggeredBy}': {reject.Message}");
                return Rejected;
            default:
                return Fail("the connector answered peer.config with a fulfill that is not an ILDCP response");
        }
    }

    private static string? Env(string name) => M2M.Server.Configuration.ConfigLoader.Variable(name) is { Length: > 0 } v ? v : null;

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return 1;
    }

    /// <summary>The connector has no reason to send us Prepares; answer any with F02.</summary>
    private sealed class RefuseIncoming : IBtpMessageHandler
    {
        public ValueTask<ReadOnlyMemory<byte>> HandleIlpAsync(BtpSession session, ReadOnlyMemory<byte> ilpPacket, CancellationToken ct) =>
            ValueTask.FromResult<ReadOnlyMemory<byte>>(IlpEncoder.ToArray(IlpRejects.Create(IlpErrorCode.F02_Unreachable, "", "ping client accepts no packets")));
    }

    /// <summary>Keeps the last warning of the BTP client (e.g. why authentication failed) for the error line.</summary>
    private sealed class LastMessageLogger : ILogger
    {
        public string? Last { get; private set; }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) Last = formatter(state, exception);
        }
    }
}
