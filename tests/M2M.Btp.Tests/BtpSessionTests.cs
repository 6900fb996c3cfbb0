using System.Text;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Btp.Tests;

/// <summary>Sessions over real WebSockets: Kestrel on 127.0.0.1 and a <see cref="BtpClient"/>.</summary>
[Trait("Tier", "integration")]
public class BtpSessionTests
{
    private const int TestTimeoutMs = 30_000;

    internal static BtpClient NewClient(Uri url, IBtpMessageHandler? handler = null, string token = BtpTestServer.Token, BtpLimits? limits = null) =>
        new("server", url, BtpTestServer.User, token, handler ?? new DelegateHandler(), limits ?? BtpLimits.Default, NullLogger.Instance);

    private static DelegateHandler HangingHandler(TaskCompletionSource? entered = null) => new(async (_, ilp, ct) =>
    {
        entered?.TrySetResult();
        await Task.Delay(Timeout.InfiniteTimeSpan, ct); // answers only when the session dies
        return ilp;
    });

    internal static async Task<BtpSession> StartAndWaitConnectedAsync(BtpClient client)
    {
        var connected = new TaskCompletionSource<BtpSession>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Connected += s => connected.TrySetResult(s);
        client.Start();
        return await connected.Task.WaitAsync(TestTimeouts.Step);
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Ilp_round_trips_in_both_directions()
    {
        await using var server = await BtpTestServer.StartAsync(new DelegateHandler());
        var clientHandler = new DelegateHandler((_, ilp, _) => ValueTask.FromResult<ReadOnlyMemory<byte>>((byte[])[0xCC, .. ilp.Span]));
        await using var client = NewClient(server.Url, clientHandler);

        var clientSession = await StartAndWaitConnectedAsync(client);
        var serverSession = await server.NextSessionAsync();

        Assert.Equal(BtpTestServer.PeerId, serverSession.PeerId);
        Assert.Equal("server", clientSession.PeerId);
        Assert.Same(clientSession, client.Current);
        Assert.True(clientSession.IsOpen && serverSession.IsOpen);
        var fromServer = await clientSession.SendIlpAsync(new byte[] { 1, 2, 3 }).WaitAsync(TestTimeouts.Step);
        Assert.Equal(new byte[] { 0xEE, 1, 2, 3 }, fromServer.ToArray());
        var fromClient = await serverSession.SendIlpAsync(new byte[] { 4 }).WaitAsync(TestTimeouts.Step);
        Assert.Equal(new byte[] { 0xCC, 4 }, fromClient.ToArray());
        Assert.DoesNotContain(server.Logger.Lines, line => line.Contains(BtpTestServer.Token, StringComparison.Ordinal));
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Thousand_concurrent_requests_each_get_their_own_response()
    {
        var handler = new DelegateHandler(async (_, ilp, ct) =>
        {
            byte[] copy = ilp.ToArray(); // input is only valid until we return
            await Task.Delay(Random.Shared.Next(0, 5), ct); // shuffle completion order
            return DelegateHandler.Echo(copy);
        });
        await using var server = await BtpTestServer.StartAsync(handler);
        await using var client = NewClient(server.Url);
        var session = await StartAndWaitConnectedAsync(client);

        var requests = Enumerable.Range(0, 1_000).Select(async i =>
        {
            byte[] payload = BitConverter.GetBytes(i);
            var reply = await session.SendIlpAsync(payload);
            Assert.Equal(DelegateHandler.Echo(payload).ToArray(), reply.ToArray());
        });
        await Task.WhenAll(requests).WaitAsync(TestTimeouts.Step);
        Assert.Equal(0, session.PendingRequestCount);
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Handler_failure_becomes_T00_error_and_session_survives()
    {
        var handler = new DelegateHandler((_, ilp, _) => ilp.Span[0] == 0xFF
            ? throw new InvalidOperationException("boom")
            : ValueTask.FromResult(DelegateHandler.Echo(ilp)));
        await using var server = await BtpTestServer.StartAsync(handler);
        await using var client = NewClient(server.Url);
        var session = await StartAndWaitConnectedAsync(client);

        var error = await Assert.ThrowsAsync<BtpRemoteException>(() => session.SendIlpAsync(new byte[] { 0xFF }).WaitAsync(TestTimeouts.Step));
        Assert.Equal(BtpErrorCodes.Unreachable, error.Code);
        Assert.Equal(BtpErrorCodes.UnreachableName, error.ErrorName);
        Assert.DoesNotContain("boom", error.DataText, StringComparison.Ordinal); // no internals leak to peers
        var ok = await session.SendIlpAsync(new byte[] { 7 }).WaitAsync(TestTimeouts.Step);
        Assert.Equal(new byte[] { 0xEE, 7 }, ok.ToArray());
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Cancellation_abandons_the_wait_and_removes_the_pending_entry()
    {
        await using var server = await BtpTestServer.StartAsync(HangingHandler());
        await using var client = NewClient(server.Url);
        var session = await StartAndWaitConnectedAsync(client);

        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => session.SendIlpAsync(new byte[] { 1 }, cts.Token).WaitAsync(TestTimeouts.Step));
        Assert.Equal(0, session.PendingRequestCount);
        Assert.True(session.IsOpen);
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Closing_fails_pending_requests_with_session_closed()
    {
        var handlerEntered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await BtpTestServer.StartAsync(HangingHandler(handlerEntered));
        await using var client = NewClient(server.Url);
        var session = await StartAndWaitConnectedAsync(client);
        var serverSession = await server.NextSessionAsync();

        var pending = session.SendIlpAsync(new byte[] { 1 });
        await handlerEntered.Task.WaitAsync(TestTimeouts.Step);
        await serverSession.CloseAsync().AsTask().WaitAsync(TestTimeouts.Step);

        await Assert.ThrowsAsync<BtpSessionClosedException>(() => pending.WaitAsync(TestTimeouts.Step));
        await session.Completion.WaitAsync(TestTimeouts.Step);
        Assert.False(session.IsOpen);
        await Assert.ThrowsAsync<BtpSessionClosedException>(() => session.SendIlpAsync(new byte[] { 2 }));
    }

    /// <summary>
    /// A drain's close: the request being handled when the close begins is answered before the close
    /// frame (a plain close dropped that reply); one that arrives after is not handled, fails at the
    /// peer with the session, is counted in the log, and the peer sees "going away" (1001).
    /// </summary>
    [Fact(Timeout = TestTimeoutMs)]
    public async Task Close_answered_replies_to_requests_taken_and_handles_none_after_it_began()
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int handled = 0;
        await using var server = await BtpTestServer.StartAsync(new DelegateHandler(async (_, ilp, _) =>
        {
            Interlocked.Increment(ref handled);
            byte[] copy = ilp.ToArray();
            entered.TrySetResult();
            await release.Task;
            return DelegateHandler.Echo(copy);
        }));
        await using var client = NewClient(server.Url);
        var session = await StartAndWaitConnectedAsync(client);
        var serverSession = await server.NextSessionAsync();

        var taken = session.SendIlpAsync(new byte[] { 1 });
        await entered.Task.WaitAsync(TestTimeouts.Step);
        var closing = serverSession.CloseAnsweredAsync(System.Net.WebSockets.WebSocketCloseStatus.EndpointUnavailable, "draining").AsTask();
        // Sent before the close frame can go out (that waits for the first reply, held by the handler).
        var late = session.SendIlpAsync(new byte[] { 2 });
        await Task.Delay(200); // the late request reaches the server; whenever it does, it is not handled
        release.SetResult();
        await closing.WaitAsync(TestTimeouts.Step);

        Assert.Equal(new byte[] { 0xEE, 1 }, (await taken.WaitAsync(TestTimeouts.Step)).ToArray());
        await Assert.ThrowsAsync<BtpSessionClosedException>(() => late.WaitAsync(TestTimeouts.Step));
        await session.Completion.WaitAsync(TestTimeouts.Step);
        await serverSession.Completion.WaitAsync(TestTimeouts.Step);
        Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.EndpointUnavailable, session.PeerCloseStatus);
        Assert.Equal(1, Volatile.Read(ref handled));
        Assert.Contains(server.Logger.Lines, l => l.StartsWith("2020 BTP session peer-alice: 1 requests arrived after the close began", StringComparison.Ordinal));
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Disposing_the_client_closes_both_ends_cleanly()
    {
        await using var server = await BtpTestServer.StartAsync(new DelegateHandler());
        var client = NewClient(server.Url);
        var disconnected = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Disconnected += peer => disconnected.TrySetResult(peer);
        var session = await StartAndWaitConnectedAsync(client);
        var serverSession = await server.NextSessionAsync();

        await client.DisposeAsync().AsTask().WaitAsync(TestTimeouts.Step);

        await serverSession.Completion.WaitAsync(TestTimeouts.Step);
        Assert.True(session.Completion.IsCompleted);
        Assert.Equal("server", await disconnected.Task.WaitAsync(TestTimeouts.Step));
        Assert.Null(client.Current);
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Message_without_ilp_and_transfer_get_empty_responses()
    {
        var transfer = new TaskCompletionSource<(ulong, string)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await BtpTestServer.StartAsync(new DelegateHandler(transfer: (_, t) =>
        {
            transfer.TrySetResult((t.Amount, t.ProtocolData[0].ProtocolName));
            return ValueTask.CompletedTask;
        }));
        await using var raw = await RawBtpClient.ConnectAsync(server.Url);
        await raw.AuthenticateAsync();
        await server.NextSessionAsync();

        await raw.SendAsync(BtpPacket.Message(40, [new("custom", BtpContentType.ApplicationJson, "{}"u8.ToArray())]));
        var reply = await raw.ReceivePacketAsync();
        Assert.Equal((BtpPacketType.Response, 40u, 0), (reply.Type, reply.RequestId, reply.ProtocolData.Count));

        await raw.SendAsync(BtpPacket.Transfer(41, 1234, [new("claim", BtpContentType.ApplicationJson, "{}"u8.ToArray())]));
        reply = await raw.ReceivePacketAsync();
        Assert.Equal((BtpPacketType.Response, 41u, 0), (reply.Type, reply.RequestId, reply.ProtocolData.Count));
        Assert.Equal((1234ul, "claim"), await transfer.Task.WaitAsync(TestTimeouts.Step));
    }

    /// <summary>Issue 13 defect 1: a TRANSFER nobody books must not be acknowledged (RFC 23: no balance change on ERROR).</summary>
    [Fact(Timeout = TestTimeoutMs)]
    public async Task Transfer_without_a_hook_or_refused_by_it_gets_F00_with_the_reason()
    {
        // The contract's default (a handler that speaks no TRANSFER) refuses.
        await using (var server = await BtpTestServer.StartAsync(new DelegateHandler()))
        {
            await using var raw = await RawBtpClient.ConnectAsync(server.Url);
            await raw.AuthenticateAsync();
            await server.NextSessionAsync();

            await raw.SendAsync(BtpPacket.Transfer(50, 1000));
            var reply = await raw.ReceivePacketAsync();
            Assert.Equal((BtpPacketType.Error, 50u, "F00"), (reply.Type, reply.RequestId, reply.Code));
        }

        await using (var server = await BtpTestServer.StartAsync(new DelegateHandler(transfer: (_, _) => throw new BtpRefusedException("not trusted to settle by TRANSFER"))))
        {
            await using var raw = await RawBtpClient.ConnectAsync(server.Url);
            await raw.AuthenticateAsync();
            await server.NextSessionAsync();

            await raw.SendAsync(BtpPacket.Transfer(51, 1000));
            var reply = await raw.ReceivePacketAsync();
            Assert.Equal((BtpPacketType.Error, 51u, "F00", "NotAcceptedError"), (reply.Type, reply.RequestId, reply.Code, reply.Name));
            Assert.Contains("not trusted to settle by TRANSFER", Encoding.UTF8.GetString(reply.ErrorData.Span));
        }
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Sub_protocol_hook_answers_with_response_data_or_error_and_SendMessageAsync_returns_it()
    {
        await using var server = await BtpTestServer.StartAsync(new DelegateHandler(subProtocol: (_, entry) =>
        {
            string text = Encoding.UTF8.GetString(entry.Data.Span);
            if (text == "bad") throw new InvalidOperationException("claim refused: bad");
            return ValueTask.FromResult<BtpProtocolData?>(new BtpProtocolData(entry.ProtocolName, BtpContentType.TextPlainUtf8, Encoding.UTF8.GetBytes("ack " + text)));
        }));
        await using var client = NewClient(server.Url);
        var clientSession = await StartAndWaitConnectedAsync(client);
        await server.NextSessionAsync();

        var reply = await clientSession.SendMessageAsync([new("payment-channel-claim", BtpContentType.ApplicationJson, Encoding.UTF8.GetBytes("good"))]).WaitAsync(TestTimeouts.Step);
        Assert.Equal(BtpPacketType.Response, reply.Type);
        Assert.True(reply.TryGetProtocolData("payment-channel-claim", out var ack));
        Assert.Equal("ack good", Encoding.UTF8.GetString(ack.Data.Span));

        var error = await Assert.ThrowsAsync<BtpRemoteException>(() =>
            clientSession.SendMessageAsync([new("payment-channel-claim", BtpContentType.ApplicationJson, Encoding.UTF8.GetBytes("bad"))]).WaitAsync(TestTimeouts.Step));
        Assert.Equal(BtpErrorCodes.NotAccepted, error.Code);
        Assert.Equal("claim refused: bad", Encoding.UTF8.GetString(error.Data.Span));

        // ILP still flows on the same session.
        var ilp = await clientSession.SendIlpAsync(new byte[] { 7 }).WaitAsync(TestTimeouts.Step);
        Assert.Equal(new byte[] { 0xEE, 7 }, ilp.ToArray());
    }

    /// <summary>
    /// The handler is part of the session from its creation: a claim written right behind the auth frame,
    /// without waiting for the auth RESPONSE, is answered by it. With the old settable hook the host set it
    /// after the read loop had started, so such a frame got a plain empty RESPONSE.
    /// </summary>
    [Fact(Timeout = TestTimeoutMs)]
    public async Task A_sub_protocol_message_right_behind_auth_reaches_the_handler_given_at_creation()
    {
        await using var server = await BtpTestServer.StartAsync(new DelegateHandler(subProtocol: (_, entry) =>
            ValueTask.FromResult<BtpProtocolData?>(new BtpProtocolData(entry.ProtocolName, BtpContentType.TextPlainUtf8, "ack"u8.ToArray()))));
        await using var raw = await RawBtpClient.ConnectAsync(server.Url);
        await raw.SendAsync(RawBtpClient.AuthPacket(1, BtpTestServer.User, BtpTestServer.Token));
        await raw.SendAsync(BtpPacket.Message(2, [new("payment-channel-claim", BtpContentType.ApplicationJson, "{}"u8.ToArray())]));

        var auth = await raw.ReceivePacketAsync();
        Assert.Equal((BtpPacketType.Response, 1u), (auth.Type, auth.RequestId));
        var reply = await raw.ReceivePacketAsync();
        Assert.Equal((BtpPacketType.Response, 2u), (reply.Type, reply.RequestId));
        Assert.True(reply.TryGetProtocolData("payment-channel-claim", out var ack));
        Assert.Equal("ack", Encoding.UTF8.GetString(ack.Data.Span));
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Client_reconnects_and_reauthenticates_after_server_drops_session()
    {
        await using var server = await BtpTestServer.StartAsync(new DelegateHandler());
        await using var client = NewClient(server.Url);
        var sessions = new List<BtpSession>();
        var second = new TaskCompletionSource<BtpSession>(TaskCreationOptions.RunContinuationsAsynchronously);
        var disconnects = 0;
        client.Connected += s =>
        {
            lock (sessions) sessions.Add(s);
            if (sessions.Count == 2) second.TrySetResult(s);
        };
        client.Disconnected += _ => Interlocked.Increment(ref disconnects);
        client.Start();
        var first = await server.NextSessionAsync();

        first.Abort(); // kill the server side without a close handshake
        var reconnected = await second.Task.WaitAsync(TimeSpan.FromSeconds(5));
        await server.NextSessionAsync();

        Assert.Equal(1, Volatile.Read(ref disconnects));
        Assert.NotSame(sessions[0], reconnected);
        var reply = await reconnected.SendIlpAsync(new byte[] { 9 }).WaitAsync(TestTimeouts.Step);
        Assert.Equal(new byte[] { 0xEE, 9 }, reply.ToArray());
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Credentials_from_btp_url_userinfo_are_used()
    {
        await using var server = await BtpTestServer.StartAsync(new DelegateHandler());
        var url = new Uri($"btp+ws://{BtpTestServer.User}:{Uri.EscapeDataString(BtpTestServer.Token)}@{server.Url.Authority}{server.Url.AbsolutePath}");
        await using var client = new BtpClient("server", url, "", "", new DelegateHandler(), BtpLimits.Default, NullLogger.Instance);

        Assert.Equal(server.Url, client.Url);
        var session = await StartAndWaitConnectedAsync(client);
        var reply = await session.SendIlpAsync(Encoding.ASCII.GetBytes("hi")).WaitAsync(TestTimeouts.Step);
        Assert.Equal(DelegateHandler.Echo("hi"u8.ToArray()).ToArray(), reply.ToArray());
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task In_flight_limits_are_enforced_in_both_directions()
    {
        var serverLimits = BtpLimits.Default with { MaxInFlightRequests = 1 };
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await BtpTestServer.StartAsync(HangingHandler(entered), serverLimits);
        await using var client = NewClient(server.Url, limits: BtpLimits.Default with { MaxInFlightRequests = 2 });
        var session = await StartAndWaitConnectedAsync(client);

        var first = session.SendIlpAsync(new byte[] { 1 });
        await entered.Task.WaitAsync(TestTimeouts.Step);
        // The server runs one handler at a time, so it turns the second request away with T00.
        var busy = await Assert.ThrowsAsync<BtpRemoteException>(() => session.SendIlpAsync(new byte[] { 2 }).WaitAsync(TestTimeouts.Step));
        Assert.Equal(BtpErrorCodes.Unreachable, busy.Code);
        Assert.False(first.IsCompleted);
        Assert.True(session.IsOpen);
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Local_in_flight_limit_and_frame_size_are_checked_before_sending()
    {
        await using var server = await BtpTestServer.StartAsync(HangingHandler());
        await using var client = NewClient(server.Url, limits: BtpLimits.Default with { MaxInFlightRequests = 2 });
        var session = await StartAndWaitConnectedAsync(client);

        var a = session.SendIlpAsync(new byte[] { 1 });
        var b = session.SendIlpAsync(new byte[] { 2 });
        await Assert.ThrowsAsync<BtpException>(() => session.SendIlpAsync(new byte[] { 3 }));
        await Assert.ThrowsAsync<ArgumentException>(() => session.SendIlpAsync(new byte[BtpLimits.Default.MaxFrameBytes]));
        Assert.False(a.IsCompleted || b.IsCompleted);
        Assert.True(session.IsOpen);
    }

    [Fact]
    public void Limits_have_documented_defaults_and_reject_nonsense()
    {
        var d = BtpLimits.Default;
        Assert.Equal((65_536, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(20), 10_000),
            (d.MaxFrameBytes, d.AuthTimeout, d.KeepAliveInterval, d.MaxInFlightRequests));
        Assert.Throws<ArgumentOutOfRangeException>(() => d with { MaxFrameBytes = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => d with { MaxFrameBytes = int.MaxValue });
        Assert.Throws<ArgumentOutOfRangeException>(() => d with { MaxInFlightRequests = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => d with { AuthTimeout = TimeSpan.Zero });
    }

    [Theory]
    [InlineData("btp+wss://u:t%3Ax@example.com/path", "wss://example.com/path", "u", "t:x")]
    [InlineData("btp+ws://example.com:7768", "ws://example.com:7768/", "", "")]
    [InlineData("wss://example.com", "wss://example.com/", "", "")]
    [InlineData("ws://user@127.0.0.1:80/x", "ws://127.0.0.1/x", "user", "")]
    public void Url_schemes_and_userinfo_are_mapped(string input, string expected, string user, string token)
    {
        var (url, parsedUser, parsedToken) = BtpClient.ParseUrl(new Uri(input));
        Assert.Equal(new Uri(expected), url);
        Assert.Equal((user, token), (parsedUser, parsedToken));
    }

    [Fact]
    public void Unsupported_url_scheme_is_rejected() =>
        Assert.Throws<ArgumentException>(() => BtpClient.ParseUrl(new Uri("http://example.com")));
}
