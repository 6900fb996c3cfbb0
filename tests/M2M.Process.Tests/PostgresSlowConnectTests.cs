using System.Net;
using System.Net.Sockets;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>
/// One-shot ledger commands on PostgreSQL wait longer for a connection than the running connector does:
/// on a loaded machine a new PostgreSQL backend can take more than the connector's 2 s connect timeout
/// (kept short so a down database gives T00 fast), and `ledger verify` / `ledger balances` then failed
/// with "The operation has timed out" (the crash harness, 2 of 4 loaded runs). A proxy that holds every
/// new connection 3 s before passing it to the real server plays the slow machine.
/// </summary>
[Collection("data")]
[Trait("Tier", "process")]
public class PostgresSlowConnectTests(PostgresServer postgres) : IClassFixture<PostgresServer>
{
    [Fact]
    public async Task Ledger_verify_and_balances_wait_out_a_3_s_connect_that_the_connector_would_give_up_on()
    {
        string url = await postgres.CreateDatabaseAsync();
        using var proxy = new SlowTcpProxy(postgres.Port, TimeSpan.FromSeconds(3));
        string slowUrl = url.Replace($"Port={postgres.Port};", $"Port={proxy.Port};", StringComparison.Ordinal);
        Assert.NotEqual(url, slowUrl);
        string dir = Directory.CreateTempSubdirectory("m2m-pg-slow-").FullName;
        try
        {
            string config = Path.Combine(dir, "config.yaml");
            await File.WriteAllTextAsync(config, """
                ilpAddress: g.slow
                ledger: { backend: postgres }
                peers:
                  - { id: alice, authToken: alice-secret-7f3a }
                """);
            var env = new Dictionary<string, string> { ["LEDGER_POSTGRES_URL"] = slowUrl, ["NODE_ID"] = "auditor" };
            var verify = await CliProcess.RunAsync(env, "ledger", "verify", "--config", config);
            Assert.True(verify.Code == 0, verify.Stdout + verify.Stderr);
            var balances = await CliProcess.RunAsync(env, "ledger", "balances", "--config", config);
            Assert.True(balances.Code == 0, balances.Stdout + balances.Stderr);
            Assert.True(proxy.Connections >= 2, $"{proxy.Connections} connections went through the slow proxy");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// A running connector told to wait up to 20 s for a connection (ledger.postgresConnectTimeoutSeconds)
    /// starts through a 6 s connect and serves: every store in the ledger's database uses that setting.
    /// Before, the settlement stores hard-coded 2 s and the network store 5 s, so the start failed at
    /// the first of them although the ledger itself had connected.
    /// </summary>
    [Fact]
    public async Task A_running_connector_uses_the_connect_timeout_setting_for_every_store_in_the_ledger_database()
    {
        string url = await postgres.CreateDatabaseAsync();
        using var proxy = new SlowTcpProxy(postgres.Port, TimeSpan.FromSeconds(6));
        string slowUrl = url.Replace($"Port={postgres.Port};", $"Port={proxy.Port};", StringComparison.Ordinal);
        string dir = Directory.CreateTempSubdirectory("m2m-pg-slow-run-").FullName;
        try
        {
            string config = Path.Combine(dir, "config.yaml");
            await File.WriteAllTextAsync(config, """
                ilpAddress: g.slow
                ledger: { backend: postgres, postgresConnectTimeoutSeconds: 20 }
                peers:
                  - { id: alice, authToken: alice-secret-7f3a }
                """);
            int http = CliProcess.FreePort();
            using var node = CliProcess.StartIn(dir, new Dictionary<string, string>
            {
                ["LEDGER_POSTGRES_URL"] = slowUrl, ["NODE_ID"] = "slow-node", ["BIND_ADDRESS"] = "127.0.0.1",
                ["BTP_SERVER_PORT"] = CliProcess.FreePort().ToString(), ["HEALTH_CHECK_PORT"] = http.ToString(),
            }, "run", "--config", config);
            await CliProcess.WaitForHealth($"http://127.0.0.1:{http}/health", node, TimeSpan.FromSeconds(180));
            Assert.True(proxy.Connections >= 3, $"{proxy.Connections} connections went through the slow proxy");
            await DataTestNode.StopAsync(node);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Accepts on a free 127.0.0.1 port and, after <c>delay</c>, relays each connection to <c>targetPort</c>.</summary>
    private sealed class SlowTcpProxy : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private int _connections;

        public SlowTcpProxy(int targetPort, TimeSpan delay)
        {
            _listener.Start();
            _ = AcceptLoopAsync(targetPort, delay);
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public int Connections => Volatile.Read(ref _connections);

        private async Task AcceptLoopAsync(int targetPort, TimeSpan delay)
        {
            try
            {
                while (true)
                {
                    var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    Interlocked.Increment(ref _connections);
                    _ = RelayAsync(client, targetPort, delay);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // stopped
            }
        }

        private async Task RelayAsync(TcpClient client, int targetPort, TimeSpan delay)
        {
            using (client)
            {
                try
                {
                    await Task.Delay(delay, _stop.Token);
                    using var server = new TcpClient();
                    await server.ConnectAsync(IPAddress.Loopback, targetPort, _stop.Token);
                    var a = client.GetStream();
                    var b = server.GetStream();
                    await Task.WhenAny(a.CopyToAsync(b, _stop.Token), b.CopyToAsync(a, _stop.Token));
                }
                catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
                {
                    // one side closed, or the proxy stopped
                }
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            _stop.Dispose();
        }
    }
}
