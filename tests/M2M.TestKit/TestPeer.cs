using System.Buffers;
using System.Security.Cryptography;
using M2M.Btp;
using M2M.Core.Ilp;

namespace M2M.TestKit;

/// <summary>
/// A BTP peer built on our BtpClient that fulfills Prepares whose data is a 32-byte preimage
/// (condition = sha256(data)), or behaves as the test scripts it.
/// </summary>
public sealed class TestPeer : IBtpMessageHandler, IAsyncDisposable
{
    private readonly BtpClient _client;
    private readonly LogCapture _log = new();
    private readonly TaskCompletionSource<BtpSession> _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TestPeer(int port, string id, string token)
    {
        _client = new BtpClient("connector", new Uri($"ws://127.0.0.1:{port}/"), id, token, this, BtpLimits.Default, _log.CreateLogger("test-peer"));
        _client.Connected += s => _connected.TrySetResult(s);
    }

    public List<IlpPrepare> Received { get; } = [];

    /// <summary>The first session (the one <see cref="ConnectAsync"/> waited for).</summary>
    public Task<BtpSession> FirstSession => _connected.Task;

    /// <summary>CCP messages (peer.route.*) the connector sent; declined, and not in <see cref="Received"/>.</summary>
    public List<IlpPrepare> PeerProtocol { get; } = [];

    /// <summary>What the peer does with a Prepare; default: fulfill with the preimage in the data.</summary>
    public Func<IlpPrepare, Task<IlpReply>> OnPrepare { get; set; } = p => Task.FromResult<IlpReply>(new IlpFulfill { Fulfillment = p.Data.ToArray() });

    public static async Task<TestPeer> ConnectAsync(int port, string id, string token)
    {
        var peer = new TestPeer(port, id, token);
        peer._client.Start();
        // Three auth timeouts: one attempt stalled on a loaded machine is retried, not a failure.
        try
        {
            await peer._connected.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            await peer.DisposeAsync();
            throw new TimeoutException($"{id} did not connect to 127.0.0.1:{port} in 30 s; the client logged: "
                + string.Join(" | ", peer._log.Lines.Select(l => l.Message)));
        }
        return peer;
    }

    public async Task<IlpReply> SendAsync(IlpPrepare prepare)
    {
        var session = await _connected.Task;
        var reply = await session.SendIlpAsync(IlpEncoder.ToArray(prepare)).WaitAsync(TimeSpan.FromSeconds(40));
        if (IlpCodec.TryDecode(reply, out var packet, out string? error) != OperationStatus.Done || packet is not IlpReply ilpReply)
            throw new InvalidOperationException($"the connector sent an invalid ILP reply: {error}");
        return ilpReply;
    }

    /// <summary>Drops the connection without a close handshake (the client then reconnects, as a real plugin would).</summary>
    public async Task AbortAsync() => (await _connected.Task).Abort();

    /// <summary>Starts sending <paramref name="prepare"/> and returns the reply task without waiting for it.</summary>
    public async Task<Task<ReadOnlyMemory<byte>>> StartSendAsync(IlpPrepare prepare) => (await _connected.Task).SendIlpAsync(IlpEncoder.ToArray(prepare));

    public async Task<ReadOnlyMemory<byte>> SendRawAsync(byte[] ilpBytes) => await (await _connected.Task).SendIlpAsync(ilpBytes).WaitAsync(TimeSpan.FromSeconds(10));

    public async ValueTask<ReadOnlyMemory<byte>> HandleIlpAsync(BtpSession session, ReadOnlyMemory<byte> ilpPacket, CancellationToken ct)
    {
        // Decoded from a copy: the Prepare is kept in Received, and the session reuses its receive buffer.
        IlpCodec.TryDecode(ilpPacket.ToArray(), out var packet, out _);
        var prepare = (IlpPrepare)packet!;
        if (prepare.Destination.StartsWith("peer.route.", StringComparison.Ordinal))
        {
            // The connector's CCP route control: a plain endpoint declines it and it is not a payment.
            lock (PeerProtocol) PeerProtocol.Add(prepare);
            return IlpEncoder.ToArray(IlpRejects.Create(IlpErrorCode.F02_Unreachable, "test.peer", "not a connector"));
        }
        lock (Received) Received.Add(prepare);
        return IlpEncoder.ToArray(await OnPrepare(prepare));
    }

    public static IlpPrepare Payment(string destination, ulong amount = 100, double expiresInSeconds = 10)
    {
        var preimage = RandomNumberGenerator.GetBytes(32);
        return new IlpPrepare
        {
            Amount = amount,
            ExpiresAt = TruncateToMilliseconds(DateTimeOffset.UtcNow.AddSeconds(expiresInSeconds)),
            ExecutionCondition = SHA256.HashData(preimage),
            Destination = destination,
            Data = preimage,
        };
    }

    /// <summary>The wire format carries milliseconds; compare like with like.</summary>
    public static DateTimeOffset TruncateToMilliseconds(DateTimeOffset t) => new(t.Ticks - t.Ticks % TimeSpan.TicksPerMillisecond, TimeSpan.Zero);

    public ValueTask DisposeAsync() => _client.DisposeAsync();
}
