using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using M2M.Core.Ilp;
using M2M.TestKit;
using Xunit.Abstractions;

namespace M2M.Reliability.Tests;

/// <summary>
/// Issue 13, defect 8: ~12,000 idle WebSockets that never authenticate filled Kestrel's upgraded
/// connection cap; real peers got HTTP 500 and thousands of stack traces reached the log. Here a real
/// connector process faces more idle sockets than its unauthenticated cap (10,000), opened from this
/// test process, while alice and bob (re)connect and pay; then the books are audited.
/// </summary>
[Collection(SerialCollection.Name)] // timing-sensitive, and the socket flood must not starve other tests
public partial class IdleSocketFloodTests(ITestOutputHelper output)
{
    [Fact]
    [Trait("Tier", "process")]
    public async Task Authenticated_peers_connect_and_pay_while_ten_thousand_idle_sockets_sit_open_and_the_log_has_one_summary_line_not_stack_traces()
    {
        // Short form: just past the cap. M2M_LONG=1: 15,000 (the fd limit here is 20,000 per process).
        int idleCount = Environment.GetEnvironmentVariable("M2M_LONG") == "1" ? 15_000 : 10_200;
        string dir = Directory.CreateTempSubdirectory("m2m-idle-").FullName;
        string config = Path.Combine(dir, "idle.yaml");
        File.WriteAllText(config, """
            nodeId: idle
            ilpAddress: g.idle
            peers:
              - { id: alice, authToken: alice-secret, creditLimit: 1000000 }
              - { id: bob, authToken: bob-secret }
            routes:
              - { prefix: g.bob, nextHop: bob }
            limits: { btpAuthTimeoutMs: 120000 }
            """);
        int btp = CliProcess.FreePort(), http = CliProcess.FreePort();
        string ledger = Path.Combine(dir, "data", "ledger.db");
        using var connector = CliProcess.Start(ProcessSupport.Ports(btp, http, ledger), "run", "--config", config);
        await CliProcess.WaitForHealth(http, connector);
        ulong paid = await Pay(btp, 20);

        var watch = Stopwatch.StartNew();
        var (idle, refused) = await OpenIdle(btp, idleCount);
        double openSeconds = watch.Elapsed.TotalSeconds;
        try
        {
            // The ones past the cap were closed by the server (oldest first): wait for their FIN/RST to arrive.
            int stillOpen = idle.Count(IsOpen);
            for (int i = 0; i < 50 && stillOpen > 10_000; i++)
            {
                await Task.Delay(200);
                stillOpen = idle.Count(IsOpen);
            }
            long rssMb = RssMb(connector.Id);
            var connect = Stopwatch.StartNew();
            string payError = "";
            try
            {
                paid += await Pay(btp, 50);
            }
            catch (Exception e) when (e is System.Net.WebSockets.WebSocketException or IOException or TimeoutException or OperationCanceledException)
            {
                payError = $" (alice/bob could not connect: {e.Message})";
            }
            double payMs = connect.Elapsed.TotalMilliseconds;
            string metrics = await new HttpClient().GetStringAsync($"http://127.0.0.1:{http}/metrics");
            long waiting = Gauge(metrics, "btp_connections{state=\"unauthenticated\"}");
            output.WriteLine($"{idleCount} idle WebSockets opened in {openSeconds:F1} s ({refused} upgrades refused); {stillOpen} still open client-side, " +
                $"{waiting} waiting for auth server-side; connector RSS {rssMb} MiB; alice and bob connected and paid 50 in {payMs:F0} ms{payError}");
            Assert.Equal(0, refused);
            Assert.InRange(stillOpen, 10_000 - 2, 10_000); // the cap, really closed past it (alice and bob may take two places)
            Assert.Equal(70UL * 10, paid);
            Assert.True(waiting >= 10_000 - 2, $"server counts {waiting}"); // alice's and bob's sockets took two places
        }
        finally
        {
            foreach (var s in idle) s.Dispose();
        }

        connector.Signal(CliProcess.SIGTERM);
        Assert.Equal(0, await connector.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        string log = connector.Stdout + connector.Stderr;
        int summaries = SummaryLine().Matches(log).Count;
        output.WriteLine($"log: {log.Split('\n').Length} lines, {summaries} summary lines, {Regex.Matches(log, @"\n\s+at ").Count} stack frames");
        Assert.DoesNotContain("   at ", log);
        Assert.InRange(summaries, 1, (int)(watch.Elapsed.TotalSeconds / 10) + 2);

        var verify = await CliProcess.RunAsync(new Dictionary<string, string> { ["LEDGER_PATH"] = ledger }, "ledger", "verify", "--config", config);
        Assert.True(verify.Code == 0, verify.Stdout + verify.Stderr);
        await using var snapshot = M2M.Ledger.Sqlite.SqliteSnapshot.Open(ledger);
        Assert.Equal((UInt128)paid, snapshot.Accounts().Single(a => a.Name.StartsWith("peer:alice", StringComparison.Ordinal)).DebitsPosted);
    }

    [GeneratedRegex("BTP unauthenticated connections: ")]
    private static partial Regex SummaryLine();

    /// <summary>alice and bob connect (fresh sessions), alice pays bob <paramref name="count"/> × 10; returns the fulfilled amount.</summary>
    private static async Task<ulong> Pay(int port, int count)
    {
        await using var alice = await TestPeer.ConnectAsync(port, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(port, "bob", "bob-secret");
        var replies = await Task.WhenAll(Enumerable.Range(0, count).Select(_ => alice.SendAsync(TestPeer.Payment("g.bob.x", 10))));
        return (ulong)replies.Count(r => r is IlpFulfill) * 10;
    }

    /// <summary>Opens <paramref name="count"/> upgraded WebSockets from 127.0.0.5 that never send a frame (16 at a time).</summary>
    private static async Task<(List<Socket> Sockets, int Refused)> OpenIdle(int port, int count)
    {
        var sockets = new System.Collections.Concurrent.ConcurrentBag<Socket>();
        int refused = 0, next = 0;
        byte[] request = Encoding.ASCII.GetBytes(RawTcp.UpgradeRequest);
        await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ =>
        {
            var head = new byte[1024];
            while (Interlocked.Increment(ref next) <= count)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    s.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.5"), 0));
                    await s.ConnectAsync(IPAddress.Loopback, port);
                    await s.SendAsync(request);
                    int n = 0;
                    while (n < 4 || !Encoding.ASCII.GetString(head, 0, n).Contains("\r\n\r\n", StringComparison.Ordinal))
                    {
                        int r = await s.ReceiveAsync(head.AsMemory(n));
                        if (r == 0) break;
                        n += r;
                    }
                    if (!Encoding.ASCII.GetString(head, 0, n).StartsWith("HTTP/1.1 101", StringComparison.Ordinal)) Interlocked.Increment(ref refused);
                }
                catch (SocketException)
                {
                    Interlocked.Increment(ref refused);
                }
                sockets.Add(s);
            }
        }));
        return (sockets.ToList(), refused);
    }

    /// <summary>Open: after draining what the server sent (pings, or an error and a close frame), no end of stream and no reset.</summary>
    private static bool IsOpen(Socket s)
    {
        var scratch = new byte[4096];
        try
        {
            while (s.Poll(0, SelectMode.SelectRead))
                if (s.Receive(scratch) == 0) return false;
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>The gauge's value, or -1 when /metrics does not have it.</summary>
    private static long Gauge(string metrics, string name)
    {
        var line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith(name + " ", StringComparison.Ordinal));
        return line is null ? -1 : (long)double.Parse(line[(name.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static long RssMb(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return line is null ? -1 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024;
    }
}
