using System.Diagnostics;
using System.Net.WebSockets;

namespace M2M.Btp.Tests;

/// <summary>The session's wire path (issue 7, session 3): concurrent incoming requests, the queued writer, the ilp frame encoder.</summary>
[Trait("Tier", "integration")]
public class BtpWirePathTests
{
    private const int TestTimeoutMs = 60_000;

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Slow_incoming_prepares_are_handled_concurrently_not_one_at_a_time()
    {
        const int Requests = 16;
        var handlerTime = TimeSpan.FromMilliseconds(400);
        int running = 0, maxRunning = 0;
        var handler = new DelegateHandler(async (_, ilp, ct) =>
        {
            byte[] copy = ilp.ToArray();
            int now = Interlocked.Increment(ref running);
            InterlockedMax(ref maxRunning, now);
            await Task.Delay(handlerTime, ct);
            Interlocked.Decrement(ref running);
            return DelegateHandler.Echo(copy);
        });
        await using var server = await BtpTestServer.StartAsync(handler);
        await using var client = BtpSessionTests.NewClient(server.Url);
        var session = await BtpSessionTests.StartAndWaitConnectedAsync(client);

        var clock = Stopwatch.StartNew();
        var replies = await Task.WhenAll(Enumerable.Range(0, Requests).Select(i => session.SendIlpAsync(new[] { (byte)i })))
            .WaitAsync(TimeSpan.FromSeconds(30));
        clock.Stop();

        for (int i = 0; i < Requests; i++) Assert.Equal(new byte[] { 0xEE, (byte)i }, replies[i].ToArray());
        // One at a time would take 16 × 400 ms = 6.4 s; concurrently about 0.4 s. Half the serial time is a
        // bound no loaded CI machine misses, and still fails for a serial session.
        Assert.True(clock.Elapsed < handlerTime * Requests / 2, $"16 slow requests took {clock.Elapsed.TotalMilliseconds:F0} ms");
        Assert.True(maxRunning > Requests / 2, $"at most {maxRunning} handlers ran at once");
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Replies_written_by_many_threads_at_once_all_arrive_whole_and_matched()
    {
        // Every reply goes through the send queue from a different thread-pool thread; with the
        // 60 KB payloads a WebSocket send often completes asynchronously, so the queue is exercised.
        var handler = new DelegateHandler(async (_, ilp, ct) =>
        {
            byte[] copy = ilp.ToArray();
            await Task.Yield();
            return DelegateHandler.Echo(copy);
        });
        await using var server = await BtpTestServer.StartAsync(handler);
        await using var client = BtpSessionTests.NewClient(server.Url);
        var session = await BtpSessionTests.StartAndWaitConnectedAsync(client);

        var requests = Enumerable.Range(0, 200).Select(async i =>
        {
            byte[] payload = new byte[i % 2 == 0 ? 60_000 : 3];
            Random.Shared.NextBytes(payload);
            var reply = await session.SendIlpAsync(payload);
            Assert.Equal(DelegateHandler.Echo(payload).ToArray(), reply.ToArray());
        });
        await Task.WhenAll(requests).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, session.PendingRequestCount);
        Assert.True(session.IsOpen);
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Close_handshake_goes_through_the_send_queue_after_a_reply()
    {
        // The raw peer sends a request and gets the RESPONSE; then the session closes: the close frame
        // is queued behind the reply and the handshake completes (CloseAsync returns, session closed).
        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new DelegateHandler((_, ilp, _) =>
        {
            answered.TrySetResult();
            return ValueTask.FromResult(DelegateHandler.Echo(ilp.ToArray()));
        });
        await using var server = await BtpTestServer.StartAsync(handler);
        await using var raw = await RawBtpClient.ConnectAsync(server.Url);
        await raw.AuthenticateAsync();
        var serverSession = await server.NextSessionAsync();

        await raw.SendAsync(BtpPacket.IlpMessage(42, new byte[] { 7 }));
        var response = await raw.ReceivePacketAsync();
        var closing = serverSession.CloseAsync().AsTask();
        Assert.Equal(BtpPacketType.Response, response.Type);
        Assert.Equal(42u, response.RequestId);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, await raw.ReceiveCloseAsync()); // also answers the close
        await closing.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(serverSession.IsOpen);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(127)]
    [InlineData(128)]
    [InlineData(255)]
    [InlineData(256)]
    [InlineData(70_000)]
    public void Ilp_frame_writer_is_byte_identical_to_the_generic_encoder(int ilpLength)
    {
        byte[] ilp = new byte[ilpLength];
        Random.Shared.NextBytes(ilp);
        foreach (var type in new[] { BtpPacketType.Message, BtpPacketType.Response })
        {
            var expected = BtpCodec.Encode(type == BtpPacketType.Message ? BtpPacket.IlpMessage(0xDEADBEEF, ilp) : BtpPacket.IlpResponse(0xDEADBEEF, ilp));
            Assert.Equal(expected.Length, BtpCodec.GetIlpFrameLength(ilpLength));
            byte[] frame = new byte[expected.Length + 5]; // larger than needed, like a pooled buffer
            ilp.CopyTo(BtpCodec.WriteIlpFrameHeader(type, 0xDEADBEEF, ilpLength, frame));
            Assert.Equal(expected, frame.AsSpan(0, expected.Length).ToArray());
        }
    }

    [Fact]
    public void Ilp_frame_writer_refuses_other_types_and_short_buffers()
    {
        Assert.Throws<ArgumentException>(() => BtpCodec.WriteIlpFrameHeader(BtpPacketType.Transfer, 1, 3, new byte[64]));
        Assert.Throws<ArgumentException>(() => BtpCodec.WriteIlpFrameHeader(BtpPacketType.Message, 1, 30, new byte[20]));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
    }
}
