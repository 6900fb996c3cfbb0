using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Btp.Tests;

/// <summary>Issue 18, the wire: frames queued together for one session leave in one socket write, whole and in order.</summary>
[Trait("Tier", "unit")]
public class CorkableStreamTests
{
    [Fact]
    public async Task Corked_writes_leave_in_one_write_in_order()
    {
        var inner = new RecordingStream();
        var stream = new CorkableStream(inner);
        stream.Cork();
        await stream.WriteAsync(new byte[] { 1, 2 });
        await stream.WriteAsync(new byte[] { 3 });
        await stream.WriteAsync(new byte[] { 4, 5, 6 });
        Assert.Empty(inner.Writes);

        await stream.UncorkAsync(CancellationToken.None);

        var write = Assert.Single(inner.Writes);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6 }, write);
    }

    [Fact]
    public async Task Uncorked_writes_pass_through_one_by_one()
    {
        var inner = new RecordingStream();
        var stream = new CorkableStream(inner);
        await stream.WriteAsync(new byte[] { 1 });
        await stream.WriteAsync(new byte[] { 2 });
        Assert.Equal([[1], [2]], inner.Writes);
    }

    [Fact]
    public async Task A_write_past_the_buffer_bound_sends_what_is_buffered_first()
    {
        var inner = new RecordingStream();
        var stream = new CorkableStream(inner);
        byte[] a = Enumerable.Repeat((byte)0xAA, CorkableStream.MaxBufferedBytes - 10).ToArray();
        byte[] b = Enumerable.Repeat((byte)0xBB, 20).ToArray();
        stream.Cork();
        await stream.WriteAsync(a);
        await stream.WriteAsync(b);
        await stream.UncorkAsync(CancellationToken.None);

        Assert.Equal([a, b], inner.Writes);
    }

    [Fact]
    public async Task A_write_from_another_caller_while_corked_keeps_its_place()
    {
        // The WebSocket's own pong or close can be written while the drainer has the stream corked.
        var inner = new RecordingStream();
        var stream = new CorkableStream(inner);
        stream.Cork();
        await stream.WriteAsync(new byte[] { 1 });
        await Task.Run(async () => await stream.WriteAsync(new byte[] { 2 }));
        await stream.WriteAsync(new byte[] { 3 });
        await stream.UncorkAsync(CancellationToken.None);

        Assert.Equal([[1, 2, 3]], inner.Writes);
    }
}

/// <summary>The session over a <see cref="BtpWebSocket"/>, observed by a plain WebSocket peer on a real loopback socket.</summary>
[Trait("Tier", "integration")]
public class BtpCoalescingTests
{
    private const int TestTimeoutMs = 60_000;

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Frames_queued_behind_a_pending_write_leave_in_one_write_whole_and_in_order()
    {
        const int Requests = 200;
        await using var rig = await GatedRig.StartAsync();
        var (gated, session, peer) = (rig.Gated, rig.Session, rig.Peer);

        // The first frame's write is held, so the other 199 queue behind it; one drainer then writes them.
        var replies = new Task<ReadOnlyMemory<byte>>[Requests];
        replies[0] = session.SendIlpAsync(Payload(0));
        await gated.FirstWriteStarted.WaitAsync(TestTimeouts.Step);
        for (int i = 1; i < Requests; i++) replies[i] = session.SendIlpAsync(Payload(i));
        gated.Release();

        // The peer must see every MESSAGE, in the order they were queued, then answers each one.
        byte[] buffer = new byte[1 << 16];
        for (int i = 0; i < Requests; i++)
        {
            var frame = await ReceiveAsync(peer, buffer);
            Assert.Equal(OperationStatus.Done, BtpCodec.TryDecode(frame, out var packet, out _));
            Assert.Equal(BtpPacketType.Message, packet!.Type);
            var ilp = packet.FindProtocolData(BtpProtocolNames.Ilp)!.Value.Data;
            Assert.Equal(i, BinaryPrimitives.ReadInt32BigEndian(ilp.Span));
            byte[] response = BtpCodec.Encode(BtpPacket.IlpResponse(packet.RequestId, DelegateHandler.Echo(ilp).ToArray()));
            await peer.SendAsync(response, WebSocketMessageType.Binary, true, CancellationToken.None);
        }
        var answers = await Task.WhenAll(replies).WaitAsync(TestTimeouts.Step);
        for (int i = 0; i < Requests; i++) Assert.Equal([0xEE, .. Payload(i)], answers[i].ToArray());

        // The held frame, then the other 199 together (each MESSAGE is about 20 bytes: far below the buffer bound).
        Assert.Equal(2, gated.Writes);
        await session.CloseAsync();
    }

    [Fact(Timeout = TestTimeoutMs)]
    public async Task Frames_gathered_before_a_close_all_arrive_before_the_close_frame()
    {
        const int Requests = 50;
        await using var rig = await GatedRig.StartAsync();
        var (gated, session, peer) = (rig.Gated, rig.Session, rig.Peer);

        var sent = new List<Task<ReadOnlyMemory<byte>>> { session.SendIlpAsync(Payload(0)) };
        await gated.FirstWriteStarted.WaitAsync(TestTimeouts.Step);
        for (int i = 1; i < Requests; i++) sent.Add(session.SendIlpAsync(Payload(i)));
        var closing = session.CloseAsync().AsTask();
        gated.Release();

        byte[] buffer = new byte[1 << 16];
        for (int i = 0; i < Requests; i++)
        {
            var frame = await ReceiveAsync(peer, buffer);
            Assert.True(BtpCodec.TryReadIlpFrame(frame, out var type, out _, out var ilp), $"frame {i} is not an ILP MESSAGE");
            Assert.Equal(BtpPacketType.Message, type);
            Assert.Equal(i, BinaryPrimitives.ReadInt32BigEndian(ilp.Span));
        }
        var close = await peer.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).AsTask().WaitAsync(TestTimeouts.Step);
        Assert.Equal(WebSocketMessageType.Close, close.MessageType);
        await peer.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
        await closing.WaitAsync(TestTimeouts.Step);
        await session.Completion.WaitAsync(TestTimeouts.Step);
        foreach (var request in sent) await Assert.ThrowsAsync<BtpSessionClosedException>(() => request.WaitAsync(TestTimeouts.Step));
        Assert.Equal(3, gated.Writes); // the held frame, the other 49 together, the close frame on its own
    }

    private static byte[] Payload(int i)
    {
        byte[] payload = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, i);
        return payload;
    }

    private static async Task<byte[]> ReceiveAsync(WebSocket socket, byte[] buffer)
    {
        int count = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(count), CancellationToken.None).AsTask().WaitAsync(TestTimeouts.Step);
            Assert.Equal(WebSocketMessageType.Binary, result.MessageType);
            count += result.Count;
            if (result.EndOfMessage) return buffer[..count];
        }
    }

    /// <summary>A started session over a <see cref="GatedStream"/> (its first write held) and a plain WebSocket peer on the other end.</summary>
    private sealed class GatedRig(SocketPair pair, GatedStream gated, BtpSession session, WebSocket peer) : IAsyncDisposable
    {
        public GatedStream Gated => gated;
        public BtpSession Session => session;
        public WebSocket Peer => peer;

        public static async Task<GatedRig> StartAsync()
        {
            var pair = await SocketPair.CreateAsync();
            var gated = new GatedStream(pair.Server);
            var session = new BtpSession(BtpWebSocket.CreateFromStream(gated, isServer: true, TimeSpan.FromSeconds(20)), "peer",
                new DelegateHandler(), BtpLimits.Default, NullLogger.Instance, TimeProvider.System);
            session.Start();
            return new GatedRig(pair, gated, session, WebSocket.CreateFromStream(pair.Client, new WebSocketCreationOptions { IsServer = false }));
        }

        public async ValueTask DisposeAsync()
        {
            peer.Dispose();
            await pair.DisposeAsync();
        }
    }

    /// <summary>Two ends of one loopback TCP connection.</summary>
    private sealed class SocketPair(NetworkStream server, NetworkStream client) : IAsyncDisposable
    {
        public NetworkStream Server => server;
        public NetworkStream Client => client;

        public static async Task<SocketPair> CreateAsync()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var tcp = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            var accept = listener.AcceptSocketAsync();
            await tcp.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
            var accepted = await accept.WaitAsync(TestTimeouts.Step);
            accepted.NoDelay = true;
            return new SocketPair(new NetworkStream(accepted, ownsSocket: true), new NetworkStream(tcp, ownsSocket: true));
        }

        public async ValueTask DisposeAsync()
        {
            await server.DisposeAsync();
            await client.DisposeAsync();
        }
    }

    /// <summary>Counts writes; holds the first one until released.</summary>
    private sealed class GatedStream(Stream inner) : DelegatingStream(inner)
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _firstStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _writes;

        public int Writes => Volatile.Read(ref _writes);
        public Task FirstWriteStarted => _firstStarted.Task;

        public void Release() => _release.TrySetResult();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Interlocked.Increment(ref _writes) == 1)
            {
                _firstStarted.TrySetResult();
                await _release.Task;
            }
            await Inner.WriteAsync(buffer, cancellationToken);
        }
    }
}

/// <summary>Records each write as one array.</summary>
internal sealed class RecordingStream : Stream
{
    public List<byte[]> Writes { get; } = [];

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        lock (Writes) Writes.Add(buffer.ToArray());
        return ValueTask.CompletedTask;
    }

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count));
    public override int Read(byte[] buffer, int offset, int count) => 0;
    public override void Flush() { }
    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}

/// <summary>Passes everything to <see cref="Inner"/>; override what a test observes.</summary>
internal class DelegatingStream(Stream inner) : Stream
{
    protected Stream Inner => inner;

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
    public override void Flush() => inner.Flush();
    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
