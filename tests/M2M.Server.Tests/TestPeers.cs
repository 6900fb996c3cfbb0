using System.Buffers;
using System.Security.Cryptography;
using M2M.Btp;
using M2M.Core.Ilp;
using M2M.Server;
using M2M.Server.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Server.Tests;

/// <summary>A connector on 127.0.0.1 with ephemeral ports, torn down by the test.</summary>
internal static class TestConnector
{
    public static async Task<ConnectorHost> StartAsync(ConnectorSettings settings)
    {
        var host = new ConnectorHost(WithTempLedger(settings) with { BindAddress = "127.0.0.1", BtpServerPort = 0, HealthCheckPort = 0 }, NullLoggerFactory.Instance);
        await host.StartAsync(CancellationToken.None);
        return host;
    }

    /// <summary>A real SQLite ledger file of its own, unless the test chose a path.</summary>
    public static ConnectorSettings WithTempLedger(ConnectorSettings settings) =>
        settings.Ledger.Path != new LedgerSettings().Path ? settings
            : settings with { Ledger = settings.Ledger with { Path = Path.Combine(Path.GetTempPath(), "m2m-tests", Guid.NewGuid().ToString("N"), "ledger.db") } };

    /// <summary>Alice and Bob connect in; each has a route to its own prefix.</summary>
    public static ConnectorSettings TwoPeers(ulong? aliceMax = null) => new()
    {
        NodeId = "conn",
        IlpAddress = "g.conn",
        Peers =
        [
            new PeerSettings { Id = "alice", AuthToken = "alice-secret", MaxPacketAmount = aliceMax },
            new PeerSettings { Id = "bob", AuthToken = "bob-secret" },
        ],
        Routes = [new("g.alice", "alice"), new("g.bob", "bob")],
    };
}

/// <summary>
/// A BTP peer built on our BtpClient that fulfills Prepares whose data is a 32-byte preimage
/// (condition = sha256(data)), or behaves as the test scripts it.
/// </summary>
internal sealed class TestPeer : IBtpMessageHandler, IAsyncDisposable
{
    private readonly BtpClient _client;
    private readonly TaskCompletionSource<BtpSession> _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TestPeer(int port, string id, string token)
    {
        _client = new BtpClient("connector", new Uri($"ws://127.0.0.1:{port}/"), id, token, this, BtpLimits.Default, NullLogger.Instance);
        _client.Connected += s => _connected.TrySetResult(s);
    }

    public List<IlpPrepare> Received { get; } = [];

    /// <summary>What the peer does with a Prepare; default: fulfill with the preimage in the data.</summary>
    public Func<IlpPrepare, Task<IlpReply>> OnPrepare { get; set; } = p => Task.FromResult<IlpReply>(new IlpFulfill { Fulfillment = p.Data.ToArray() });

    public static async Task<TestPeer> ConnectAsync(int port, string id, string token)
    {
        var peer = new TestPeer(port, id, token);
        peer._client.Start();
        await peer._connected.Task.WaitAsync(TimeSpan.FromSeconds(10));
        return peer;
    }

    public async Task<IlpReply> SendAsync(IlpPrepare prepare)
    {
        var session = await _connected.Task;
        var reply = await session.SendIlpAsync(IlpEncoder.ToArray(prepare)).WaitAsync(TimeSpan.FromSeconds(40));
        Assert.Equal(OperationStatus.Done, IlpCodec.TryDecode(reply, out var packet, out string? error));
        return Assert.IsAssignableFrom<IlpReply>(packet);
    }

    public async Task<ReadOnlyMemory<byte>> SendRawAsync(byte[] ilpBytes) => await (await _connected.Task).SendIlpAsync(ilpBytes).WaitAsync(TimeSpan.FromSeconds(10));

    public async ValueTask<ReadOnlyMemory<byte>> HandleIlpAsync(BtpSession session, ReadOnlyMemory<byte> ilpPacket, CancellationToken ct)
    {
        IlpCodec.TryDecode(ilpPacket, out var packet, out _);
        var prepare = (IlpPrepare)packet!;
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
