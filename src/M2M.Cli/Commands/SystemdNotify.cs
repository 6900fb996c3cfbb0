using System.Net.Sockets;
using System.Text;
using M2M.Server.Configuration;

namespace M2M.Cli;

/// <summary>
/// The sd_notify protocol for a systemd unit with <c>Type=notify</c>
/// (deploy/systemd/m2m-connector.service): when systemd sets NOTIFY_SOCKET, `run` sends READY=1
/// once both listeners accept connections, and STOPPING=1 when it begins to drain. Without
/// NOTIFY_SOCKET nothing is sent. A datagram to a Unix socket; "@name" is the abstract namespace.
/// </summary>
internal static class SystemdNotify
{
    public const string SocketVariable = "NOTIFY_SOCKET";

    /// <summary>Sends <paramref name="state"/>; returns an error line when systemd asked for it and the send failed, else null.</summary>
    public static string? Send(string state)
    {
        string? path = ConfigLoader.Variable(SocketVariable);
        if (string.IsNullOrEmpty(path)) return null;
        if (path[0] == '@') path = "\0" + path[1..];
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            socket.SendTo(Encoding.UTF8.GetBytes(state), new UnixDomainSocketEndPoint(path));
            return null;
        }
        catch (SocketException e)
        {
            return $"sd_notify {state.Split('\n')[0]} to {SocketVariable} failed: {e.Message}";
        }
    }
}
