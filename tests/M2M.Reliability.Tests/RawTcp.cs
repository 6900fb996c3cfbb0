using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace M2M.Reliability.Tests;

/// <summary>
/// A TCP client that speaks just enough HTTP/WebSocket by hand to do what a real client will not:
/// declare a 100 MiB frame, send headers one byte at a time, hold a socket open and idle.
/// </summary>
internal sealed class RawTcp : IDisposable
{
    public Socket Socket { get; } = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };

    public static async Task<RawTcp> ConnectAsync(int port)
    {
        var c = new RawTcp();
        await c.Socket.ConnectAsync(IPAddress.Loopback, port);
        return c;
    }

    public const string UpgradeRequest = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

    /// <summary>Sends the upgrade request and reads the 101 response headers.</summary>
    public async Task UpgradeAsync()
    {
        await Socket.SendAsync(Encoding.ASCII.GetBytes(UpgradeRequest));
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await Socket.ReceiveAsync(one) == 0) throw new IOException("closed during upgrade: " + head);
            head.Append((char)one[0]);
        }
        if (!head.ToString().StartsWith("HTTP/1.1 101", StringComparison.Ordinal)) throw new IOException("upgrade refused: " + head);
    }

    /// <summary>A client binary frame header (FIN, masked with a zero key so payload bytes go as is) declaring <paramref name="length"/>.</summary>
    public static byte[] FrameHeader(ulong length)
    {
        var h = new byte[2 + 8 + 4];
        h[0] = 0x82;
        h[1] = 0x80 | 127;
        BinaryPrimitives.WriteUInt64BigEndian(h.AsSpan(2), length);
        return h; // mask key 0,0,0,0
    }

    /// <summary>Reads server frames until a close frame; returns its status code, or null if the connection ended without one.</summary>
    public async Task<int?> ReadCloseStatusAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var stream = new NetworkStream(Socket, ownsSocket: false);
        try
        {
            while (true)
            {
                var h = new byte[2];
                await stream.ReadExactlyAsync(h, cts.Token);
                ulong len = (ulong)(h[1] & 0x7F);
                if (len == 126) { var b = new byte[2]; await stream.ReadExactlyAsync(b, cts.Token); len = BinaryPrimitives.ReadUInt16BigEndian(b); }
                else if (len == 127) { var b = new byte[8]; await stream.ReadExactlyAsync(b, cts.Token); len = BinaryPrimitives.ReadUInt64BigEndian(b); }
                var payload = new byte[len];
                await stream.ReadExactlyAsync(payload, cts.Token);
                if ((h[0] & 0x0F) == 0x8) return len >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(payload) : 1005;
            }
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or SocketException)
        {
            return null;
        }
    }

    /// <summary>True once the server has closed the connection (a read returns 0 or fails).</summary>
    public async Task<bool> ClosedByServerAsync(TimeSpan timeout)
    {
        // A deadline already past still gets a short look: a socket closed before it reads 0 at once.
        using var cts = new CancellationTokenSource(timeout > TimeSpan.FromMilliseconds(100) ? timeout : TimeSpan.FromMilliseconds(100));
        var buffer = new byte[4096];
        try
        {
            while (await Socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token) > 0) { }
            return true;
        }
        catch (SocketException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public void Dispose() => Socket.Dispose();
}
