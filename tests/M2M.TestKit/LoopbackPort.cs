using System.Net;
using System.Net.Sockets;

namespace M2M.TestKit;

/// <summary>
/// A TCP port on 127.0.0.1 for a child process (or a host) that must be told its port before it binds.
/// Port 0's answer is an ephemeral port, and test assemblies run in parallel processes: another
/// process's outgoing connection or its own "free port" could take it before our child binds (CI saw
/// "address already in use" on a connector's HTTP port). So ports come from below the ephemeral range
/// (20000–32699), each claimed by a file that other test processes respect for 30 minutes.
/// </summary>
public static class LoopbackPort
{
    private const int First = 20_000, Count = 12_700;
    private static readonly TimeSpan ClaimLife = TimeSpan.FromMinutes(30);
    private static readonly string ClaimDir = Path.Combine(Path.GetTempPath(), $"m2m-test-ports-{Environment.UserName}");

    public static int Free()
    {
        Directory.CreateDirectory(ClaimDir);
        for (int attempt = 0; attempt < 1_000; attempt++)
        {
            int port = First + Random.Shared.Next(Count);
            if (TryClaim(port) && Bindable(port)) return port;
        }
        throw new InvalidOperationException($"no free loopback port in {First}–{First + Count - 1} after 1,000 tries (claims in {ClaimDir})");
    }

    private static bool TryClaim(int port)
    {
        string claim = Path.Combine(ClaimDir, port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        try
        {
            if (File.Exists(claim))
            {
                if (DateTime.UtcNow - File.GetLastWriteTimeUtc(claim) < ClaimLife) return false;
                File.Delete(claim);
            }
            using (new FileStream(claim, FileMode.CreateNew, FileAccess.Write)) { }
            return true;
        }
        catch (IOException)
        {
            return false; // another process claimed it first
        }
    }

    private static bool Bindable(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
