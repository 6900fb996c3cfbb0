using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>
/// A real HAProxy (Debian package haproxy; .ci/run installs it) on 127.0.0.1 in front of connector
/// nodes: a BTP frontend and an HTTP frontend (TCP mode, so WebSockets pass through), each node a
/// server checked on its /health/ready, and the runtime API on a TCP port for the scripts. A node
/// marked down keeps its open sessions (no on-marked-down shutdown-sessions): a draining node closes
/// them itself once their requests are answered, and a busy machine's slow health check cuts nothing.
/// </summary>
internal sealed class HaproxyProcess : IDisposable
{
    private readonly System.Diagnostics.Process _process;

    private HaproxyProcess(System.Diagnostics.Process process, int btpPort, int httpPort, int adminPort)
    {
        _process = process;
        BtpPort = btpPort;
        HttpPort = httpPort;
        AdminPort = adminPort;
    }

    public int BtpPort { get; }
    public int HttpPort { get; }
    public int AdminPort { get; }
    public string Admin => $"127.0.0.1:{AdminPort}";

    public static string? Executable => new[] { "/usr/sbin/haproxy", "/usr/local/sbin/haproxy", "/usr/bin/haproxy" }.FirstOrDefault(File.Exists);

    /// <param name="servers">(name, BTP port, HTTP port, starts in maintenance)</param>
    public static async Task<HaproxyProcess> StartAsync(string dir, IReadOnlyList<(string Name, int Btp, int Http, bool Disabled)> servers)
    {
        string exe = Executable ?? throw new InvalidOperationException("haproxy is not installed (apt-get install haproxy; .ci/run installs it)");
        int btp = CliProcess.FreePort(), http = CliProcess.FreePort(), admin = CliProcess.FreePort();
        var cfg = new StringBuilder($"""
            global
              stats socket ipv4@127.0.0.1:{admin} level admin
            defaults
              mode tcp
              timeout connect 2s
              timeout client 120s
              timeout server 120s
              timeout check 2s
              option redispatch
              retries 3
            frontend fe_btp
              bind 127.0.0.1:{btp}
              default_backend be_btp
            frontend fe_http
              bind 127.0.0.1:{http}
              default_backend be_http

            """);
        foreach (string backend in new[] { "be_btp", "be_http" })
        {
            cfg.Append($"backend {backend}\n  balance roundrobin\n  option httpchk GET /health/ready\n");
            foreach (var s in servers)
                cfg.Append($"  server {s.Name} 127.0.0.1:{(backend == "be_btp" ? s.Btp : s.Http)} check port {s.Http} inter 400 fall 2 rise 1 {(s.Disabled ? " disabled" : "")}\n");
        }
        string path = Path.Combine(dir, "haproxy.cfg");
        await File.WriteAllTextAsync(path, cfg.ToString());
        var info = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-db", "-f", path }) info.ArgumentList.Add(a);
        var process = System.Diagnostics.Process.Start(info)!;
        var log = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var proxy = new HaproxyProcess(process, btp, http, admin);
        for (int i = 0; i < 100 && !await Listening(admin); i++)
        {
            if (process.HasExited) Assert.Fail($"haproxy exited ({process.ExitCode}) with {path}: {log}");
            await Task.Delay(100);
        }
        return proxy;
    }

    /// <summary>One runtime API command; its answer.</summary>
    public async Task<string> CommandAsync(string command)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", AdminPort);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\n"));
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }

    private static async Task<bool> Listening(int port)
    {
        try
        {
            using var c = new TcpClient();
            await c.ConnectAsync("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit(5000);
        }
        _process.Dispose();
    }
}
