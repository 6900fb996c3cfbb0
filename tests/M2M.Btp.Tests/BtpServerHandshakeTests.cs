using System.Diagnostics;
using System.Net.WebSockets;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Btp.Tests;

/// <summary>Auth failures and protocol violations, observed by a raw ClientWebSocket.</summary>
[Trait("Tier", "integration")]
public class BtpServerHandshakeTests
{
    private const int TestTimeoutMs = 30_000;
    private const string WrongToken = "wrong-token-do-not-log";

    [Theory(Timeout = TestTimeoutMs)]
    [InlineData(BtpTestServer.User, WrongToken)]
    [InlineData("mallory", BtpTestServer.Token)]
    [InlineData("", WrongToken)]
    public async Task Bad_credentials_get_F00_and_1008_and_server_keeps_serving(string user, string token)
    {
        await using var server = await BtpTestServer.StartAsync(new DelegateHandler());
        await using (var raw = await RawBtpClient.ConnectAsync(server.Url))
        {
            await raw.SendAsync(RawBtpClient.AuthPacket(77, user, token));
            var error = await raw.ReceivePacketAsync();
            AssertNotAccepted(error, 77);
            Assert.DoesNotContain(token, System.Text.Encoding.UTF8.GetString(error.ErrorData.Span), StringComparison.Ordinal);
            Assert.Equal(WebSocketCloseStatus.PolicyViolation, await raw.ReceiveCloseAsync());
        }
        Assert.DoesNotContain(server.Logger.Lines, line => line.Contains(token, StringComparison.Ordinal));
        Assert.Contains(server.Logger.Lines, line => line.StartsWith("2001 ", StringComparison.Ordinal));

        await using var client = BtpSessionTests.NewClient(server.Url);
        var session = await BtpSessionTests.StartAndWaitConnectedAsync(client);
        var reply = await session.SendIlpAsync(new byte[] { 1 }).WaitAsync(TestTimeouts.Step);
        Assert.Equal(new byte[] { 0xEE, 1 }, reply.ToArray());
    }

    [Theory(Timeout = TestTimeoutMs)]
    [InlineData("ilp-message")]
    [InlineData("auth-not-first")]
    [InlineData("no-token")]
    [InlineData("garbage")]
    [InlineData("response")]
    public async Task First_frame_that_is_not_auth_is_rejected(string kind)
    {
        await using var server = await BtpTestServer.StartAsync(new DelegateHandler());
        await using var raw = await RawBtpClient.ConnectAsync(server.Url);
        byte[] frame = kind switch
        {
            "ilp-message" => BtpCodec.Encode(BtpPacket.IlpMessage(5, new byte[] { 1 })),
            "auth-not-first" => BtpCodec.Encode(BtpPacket.Message(5,
            [
                new(BtpProtocolNames.AuthToken, BtpContentType.TextPlainUtf8, "x"u8.ToArray()),
                new(BtpProtocolNames.Auth, BtpContentType.ApplicationOctetStream, default),
            ])),
            "no-token" => BtpCodec.Encode(BtpPacket.Message(5, [new(BtpProtocolNames.Auth, BtpContentType.ApplicationOctetStream, default)])),
            "response" => BtpCodec.Encode(BtpPacket.Response(5)),
            _ => [0xDE, 0xAD, 0xBE, 0xEF],
        };
        await raw.SendBytesAsync(frame);

        var error = await raw.ReceivePacketAsync();
        AssertNotAccepted(error, kind == "garbage" ? 0u : 5u);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await raw.ReceiveCloseAsync());
    }

    /// <summary>
    /// The attach callback (the connector's peer table) runs before the auth response goes out, and a frame
    /// sent on the session from it follows the response: the peer never sees its login succeed before it is
    /// reachable, nor a request before its auth response.
    /// </summary>
    [Fact(Timeout = TestTimeoutMs)]
    public async Task The_session_is_attached_before_the_auth_response_and_frames_sent_meanwhile_follow_it()
    {
        Task<ReadOnlyMemory<byte>>? sentFromAttach = null;
        await using var server = await BtpTestServer.StartAsync(new DelegateHandler(),
            attach: session => sentFromAttach = session.SendIlpAsync(new byte[] { 7 }));
        await using var raw = await RawBtpClient.ConnectAsync(server.Url);
        await raw.AuthenticateAsync(); // the first frame is the auth response
        Assert.NotNull(sentFromAttach);
        var message = await raw.ReceivePacketAsync();
        Assert.Equal(BtpPacketType.Message, message.Type);
        Assert.True(message.TryGetProtocolData(BtpProtocolNames.Ilp, out var ilp));
        Assert.Equal(new byte[] { 7 }, ilp.Data.ToArray());
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Silent_client_is_rejected_after_auth_timeout()
    {
        var limits = BtpLimits.Default with { AuthTimeout = TimeSpan.FromMilliseconds(300) };
        await using var server = await BtpTestServer.StartAsync(new DelegateHandler(), limits);
        var clock = Stopwatch.StartNew(); // before connecting: the server's timer starts after this
        await using var raw = await RawBtpClient.ConnectAsync(server.Url);

        var error = await raw.ReceivePacketAsync();
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(250), $"rejected after {clock.Elapsed}");
        AssertNotAccepted(error, 0);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await raw.ReceiveCloseAsync());
        Assert.Contains(server.Logger.Lines, line => line.StartsWith("2002 ", StringComparison.Ordinal));
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Client_with_wrong_token_keeps_retrying_with_backoff()
    {
        await using var server = await BtpTestServer.StartAsync(new DelegateHandler());
        await using var client = BtpSessionTests.NewClient(server.Url, token: WrongToken);
        var connected = false;
        client.Connected += _ => connected = true;
        client.Start();

        // 100 ms, 200 ms, ... backoff: at least three attempts within a few seconds.
        var deadline = Stopwatch.StartNew();
        while (server.Logger.Lines.Count(l => l.StartsWith("2001 ", StringComparison.Ordinal)) < 3 && deadline.Elapsed < TestTimeouts.Step)
            await Task.Delay(50);

        Assert.True(server.Logger.Lines.Count(l => l.StartsWith("2001 ", StringComparison.Ordinal)) >= 3);
        Assert.False(connected);
        Assert.Null(client.Current);
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Garbage_after_auth_gets_F01_and_close_while_other_sessions_continue()
    {
        await using var server = await BtpTestServer.StartAsync(new DelegateHandler());
        await using var good = BtpSessionTests.NewClient(server.Url);
        var goodSession = await BtpSessionTests.StartAndWaitConnectedAsync(good);
        await using var raw = await RawBtpClient.ConnectAsync(server.Url);
        await raw.AuthenticateAsync();

        await raw.SendBytesAsync([0x06, 0x00, 0x00, 0x00, 0x09, 0xFF, 0x01]);
        var error = await raw.ReceivePacketAsync();
        Assert.Equal(BtpPacketType.Error, error.Type);
        Assert.Equal(9u, error.RequestId);
        Assert.Equal((BtpErrorCodes.InvalidFields, BtpErrorCodes.InvalidFieldsName), (error.Code, error.Name));
        Assert.Equal(WebSocketCloseStatus.ProtocolError, await raw.ReceiveCloseAsync());

        var reply = await goodSession.SendIlpAsync(new byte[] { 3 }).WaitAsync(TestTimeouts.Step);
        Assert.Equal(new byte[] { 0xEE, 3 }, reply.ToArray());
    }

    [Theory(Timeout = TestTimeoutMs)]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Frame_over_max_size_closes_with_1009(bool authenticated)
    {
        await using var server = await BtpTestServer.StartAsync(new DelegateHandler());
        await using var raw = await RawBtpClient.ConnectAsync(server.Url);
        if (authenticated) await raw.AuthenticateAsync();

        var oversize = BtpPacket.IlpMessage(2, new byte[BtpLimits.Default.MaxFrameBytes]);
        await raw.SendAsync(oversize);

        Assert.Equal(WebSocketCloseStatus.MessageTooBig, await raw.ReceiveCloseAsync());
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Frame_of_exactly_max_size_is_accepted()
    {
        await using var server = await BtpTestServer.StartAsync(new DelegateHandler((_, _, _) => ValueTask.FromResult<ReadOnlyMemory<byte>>(new byte[] { 1 })));
        await using var raw = await RawBtpClient.ConnectAsync(server.Url);
        await raw.AuthenticateAsync();
        int overhead = BtpCodec.GetEncodedLength(BtpPacket.IlpMessage(2, new byte[60_000])) - 60_000;
        var packet = BtpPacket.IlpMessage(2, new byte[BtpLimits.Default.MaxFrameBytes - overhead]);
        Assert.Equal(BtpLimits.Default.MaxFrameBytes, BtpCodec.GetEncodedLength(packet));

        await raw.SendAsync(packet);
        var reply = await raw.ReceivePacketAsync();
        Assert.Equal((BtpPacketType.Response, 2u), (reply.Type, reply.RequestId));
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Text_message_closes_the_session()
    {
        await using var server = await BtpTestServer.StartAsync(new DelegateHandler());
        await using var raw = await RawBtpClient.ConnectAsync(server.Url);
        await raw.AuthenticateAsync();
        var serverSession = await server.NextSessionAsync();

        await raw.SendBytesAsync("hello"u8.ToArray(), WebSocketMessageType.Text);

        Assert.Equal(WebSocketCloseStatus.InvalidMessageType, await raw.ReceiveCloseAsync());
        await serverSession.Completion.WaitAsync(TestTimeouts.Step);
    }

    [Fact]
    public async Task Authenticator_exception_is_a_rejection()
    {
        // Runs the handshake over an in-memory WebSocket pair, without Kestrel.
        var (serverSocket, clientSocket) = await LoopbackSockets.CreatePairAsync();
        using (serverSocket)
        using (clientSocket)
        {
            var accept = BtpServerHandshake.AcceptAsync(serverSocket, (_, _) => throw new InvalidOperationException(),
                new DelegateHandler(), BtpLimits.Default, NullLogger.Instance, CancellationToken.None);
            await clientSocket.SendAsync(BtpCodec.Encode(RawBtpClient.AuthPacket(1, "u", "t")), WebSocketMessageType.Binary, true, CancellationToken.None);
            var buffer = new byte[1024];
            using var cts = new CancellationTokenSource(TestTimeouts.Step);
            var result = await clientSocket.ReceiveAsync(buffer, cts.Token);
            BtpCodec.TryDecode(buffer.AsMemory(0, result.Count), out var error, out _);
            AssertNotAccepted(error!, 1);
            await clientSocket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", cts.Token);
            Assert.Null(await accept.WaitAsync(TestTimeouts.Step));
        }
    }

    private static void AssertNotAccepted(BtpPacket error, uint requestId)
    {
        Assert.Equal(BtpPacketType.Error, error.Type);
        Assert.Equal(requestId, error.RequestId);
        Assert.Equal(BtpErrorCodes.NotAccepted, error.Code);
        Assert.Equal(BtpErrorCodes.NotAcceptedName, error.Name);
        Assert.Matches(@"^\d{14}\.\d{3}Z$", error.TriggeredAt);
        Assert.False(error.ErrorData.IsEmpty);
    }
}
