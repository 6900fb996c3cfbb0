using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using M2M.Core.Ilp;
using M2M.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Npgsql;
using Xunit.Abstractions;

namespace M2M.Reliability.Tests;

/// <summary>
/// Settlement is paid exactly once with three connector processes on one PostgreSQL ledger (issue 15).
/// One cluster, one receiving peer per case, all settled through an RFC 38 engine stand-in that
/// counts calls and deduplicates by Idempotency-Key as a real engine does:
/// b1: traffic through all three nodes at once crosses the threshold;
/// b2: POST /settlement/execute sent to all three nodes at once;
/// b3: the engine fails for 3 s, then answers slowly;
/// b4: the engine SIGKILLs the node that calls it first, after accepting the payment and before the node books it;
/// b5: minIntervalSeconds holds across nodes (traffic crosses the threshold twice, one settlement).
/// Per case: the amount paid under distinct keys equals what the ledger booked as paid, never more than was
/// owed, each key always carries one amount, and `ledger verify` passes. Short form: 1 run; M2M_LONG=1: 20 runs.
/// </summary>
public sealed class SettlementExactlyOnceTests(PostgresServer postgres, ITestOutputHelper output) : IClassFixture<PostgresServer>
{
    private const ulong Threshold = 5_000;
    private static readonly string[] Receivers = ["b1", "b2", "b3", "b4", "b5"];

    [Fact]
    [Trait("Tier", "process")]
    public async Task Three_nodes_on_one_postgres_pay_each_obligation_once()
    {
        await RunAsync(seed: 1);
    }

    [LongFact]
    [Trait("Tier", "long")]
    public async Task Three_nodes_on_one_postgres_pay_each_obligation_once_20_runs()
    {
        int runs = int.TryParse(Environment.GetEnvironmentVariable("M2M_SETTLE_RUNS"), out var n) ? n : 20;
        var watch = Stopwatch.StartNew();
        for (int run = 1; run <= runs; run++) await RunAsync(seed: run);
        output.WriteLine($"{runs} runs × 5 cases: 0 violations in {watch.Elapsed.TotalSeconds:F0} s");
    }

    private async Task RunAsync(int seed)
    {
        await using var cluster = await Cluster.StartAsync(postgres, output);
        var random = new Random(seed);
        // b1: 6,000 owed against 5,000 (the issue's figures), sent through all three nodes at once.
        var b1 = await cluster.SendAsync("b1", 600, 10, random);
        // b2: 3,000 owed (below the threshold), then an operator asks all three nodes at once.
        var b2 = await cluster.SendAsync("b2", 300, 10, random);
        var executes = await Task.WhenAll(cluster.Nodes.Select(n => cluster.ExecuteAsync(n, "b2")));
        // b3: over the threshold; the engine fails, then is slow.
        var b3 = await cluster.SendAsync("b3", 120, 50, random);
        // b5: twice over its threshold (1,000), minIntervalSeconds 3600.
        var b5a = await cluster.SendAsync("b5", 60, 20, random);
        await cluster.WaitAsync("b5", owed => owed < 1_000);
        var b5b = await cluster.SendAsync("b5", 60, 20, random);
        // b4 last (a node dies): 4,950 owed, then one packet crosses 5,000; the engine kills the node that pays it.
        var b4 = await cluster.SendAsync("b4", 99, 50, random) + await cluster.SendAsync("b4", 1, 500, random);

        await cluster.WaitAsync("b1", owed => owed < (long)Threshold);
        await cluster.WaitAsync("b2", owed => owed <= 0);
        await cluster.WaitAsync("b3", owed => owed < (long)Threshold);
        await cluster.WaitAsync("b4", owed => owed < (long)Threshold);
        await cluster.WaitAsync("b5", _ => true);
        await Task.Delay(TimeSpan.FromSeconds(3)); // anything a node would still do wrongly has time to happen

        var fulfilled = new Dictionary<string, ulong> { ["b1"] = b1, ["b2"] = b2, ["b3"] = b3, ["b4"] = b4, ["b5"] = b5a + b5b };
        var report = new List<string>();
        var violations = new List<string>();
        void Check(bool ok, string what)
        {
            if (!ok) violations.Add(what);
        }
        foreach (var peer in Receivers)
        {
            var paid = cluster.Engine.PaidTo(peer);
            long paidSum = paid.Values.Sum(v => (long)v);
            var (owed, booked) = await cluster.BalancesAsync(peer);
            report.Add($"{peer}: fulfilled {fulfilled[peer]}, engine calls {cluster.Engine.Calls(peer)}, keys {paid.Count}, paid {paidSum}, booked {booked}, still owed {owed}");
            Check(cluster.Engine.Conflicts(peer) == 0, $"{peer}: one Idempotency-Key carried two amounts");
            Check(paidSum == booked, $"{peer}: the engine paid {paidSum} but the ledger booked {booked}");
            Check(owed >= 0, $"{peer}: paid more than was owed (still owed {owed})");
            Check((long)fulfilled[peer] == owed + booked, $"{peer}: fulfilled {fulfilled[peer]} != owed {owed} + booked {booked}");
        }
        output.WriteLine($"run {seed}: " + string.Join("; ", report));
        Check(cluster.Engine.PaidTo("b2").Count == 1 && cluster.Engine.PaidTo("b2").Values.Single() == b2, $"b2: /settlement/execute on 3 nodes paid under {cluster.Engine.PaidTo("b2").Count} keys");
        Check(executes.All(code => code is 202 or 400), $"b2: execute answered {string.Join(", ", executes)}");
        Check(cluster.Engine.PaidTo("b3").Count == 1, $"b3: failing then slow engine paid under {cluster.Engine.PaidTo("b3").Count} keys");
        Check(cluster.Engine.Killed, "b4: the engine never killed a node");
        Check(cluster.Engine.PaidTo("b4").Count == 1, $"b4: a node killed after the payment: paid under {cluster.Engine.PaidTo("b4").Count} keys");
        Check(cluster.Engine.PaidTo("b5").Count == 1, $"b5: minIntervalSeconds 3600 across nodes: {cluster.Engine.PaidTo("b5").Count} settlements");
        var (verifyCode, verifyOut) = await cluster.VerifyLedgerAsync();
        Check(verifyCode == 0, $"ledger verify exited {verifyCode}: {verifyOut}");
        Assert.True(violations.Count == 0, $"run {seed}: {violations.Count} violations:\n" + string.Join("\n", violations));
    }

    /// <summary>The RFC 38 engine stand-in: per Idempotency-Key the first accepted amount is the payment.</summary>
    private sealed class Engine
    {
        private readonly Lock _lock = new();
        private readonly Dictionary<string, Dictionary<string, ulong>> _paid = [];
        private readonly Dictionary<string, int> _calls = [];
        private readonly Dictionary<string, int> _conflicts = [];
        private DateTime? _b3FirstCall;
        public Func<string, bool>? KillNode { get; set; }
        public bool Killed { get; private set; }

        public Dictionary<string, ulong> PaidTo(string peer)
        {
            lock (_lock) return new(_paid.GetValueOrDefault(peer) ?? []);
        }

        public int Calls(string peer)
        {
            lock (_lock) return _calls.GetValueOrDefault(peer);
        }

        public int Conflicts(string peer)
        {
            lock (_lock) return _conflicts.GetValueOrDefault(peer);
        }

        public async Task<IResult> HandleAsync(string node, string peer, HttpContext ctx)
        {
            string key = ctx.Request.Headers["Idempotency-Key"].ToString();
            var body = (await JsonDocument.ParseAsync(ctx.Request.Body)).RootElement;
            ulong amount = ulong.Parse(body.GetProperty("amount").GetString()!, CultureInfo.InvariantCulture);
            lock (_lock)
            {
                _calls[peer] = _calls.GetValueOrDefault(peer) + 1;
                if (peer == "b3")
                {
                    _b3FirstCall ??= DateTime.UtcNow;
                    if (DateTime.UtcNow - _b3FirstCall < TimeSpan.FromSeconds(3)) return Results.StatusCode(503);
                }
            }
            if (peer == "b3") await Task.Delay(1500);
            lock (_lock)
            {
                var paid = _paid.TryGetValue(peer, out var p) ? p : _paid[peer] = [];
                if (paid.TryGetValue(key, out var earlier))
                {
                    if (earlier != amount) _conflicts[peer] = _conflicts.GetValueOrDefault(peer) + 1;
                }
                else
                {
                    paid[key] = amount;
                }
                // b4: the payment is made; the node that asked dies before it hears so.
                if (peer == "b4" && !Killed && KillNode is not null) Killed = KillNode(node);
            }
            return Results.Created();
        }
    }

    private sealed class Cluster : IAsyncDisposable
    {
        private readonly List<(CliProcess Process, int Btp, int Http, string Dir)> _nodes = [];
        private readonly List<TestPeer> _peers = [];
        private readonly ITestOutputHelper _output;
        private WebApplication _engineApp = null!;
        private HttpClient _http = null!;
        private string _url = "", _config = "";

        private Cluster(ITestOutputHelper output) => _output = output;

        public Engine Engine { get; } = new();
        public IEnumerable<int> Nodes => Enumerable.Range(0, _nodes.Count);

        public static async Task<Cluster> StartAsync(PostgresServer postgres, ITestOutputHelper output)
        {
            var c = new Cluster(output);
            try
            {
                await c.StartCoreAsync(postgres);
                return c;
            }
            catch
            {
                await c.DisposeAsync();
                throw;
            }
        }

        private async Task StartCoreAsync(PostgresServer postgres)
        {
            _url = postgres.ConnectionString(await postgres.CreateDatabaseAsync());
            (_engineApp, var engineUrl) = await LoopbackWeb.StartAsync(app =>
                app.MapPost("/{node}/accounts/{peer}/settlements", (string node, string peer, HttpContext ctx) => Engine.HandleAsync(node, peer, ctx)));
            _http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "admin-token");
            var watch = Stopwatch.StartNew();
            var starting = new List<Task>();
            for (int i = 0; i < 3; i++)
            {
                string dir = Directory.CreateTempSubdirectory($"m2m-settle-node{i}-").FullName;
                string config = Path.Combine(dir, "config.yaml");
                await File.WriteAllTextAsync(config, Config(new Uri(engineUrl, $"n{i}/")));
                if (i == 0) _config = config;
                int btp = CliProcess.FreePort(), http = CliProcess.FreePort();
                var env = new Dictionary<string, string>
                {
                    ["BTP_SERVER_PORT"] = btp.ToString(CultureInfo.InvariantCulture), ["HEALTH_CHECK_PORT"] = http.ToString(CultureInfo.InvariantCulture),
                    ["BIND_ADDRESS"] = "127.0.0.1", ["NODE_ID"] = $"node{i}", ["LEDGER_POSTGRES_URL"] = _url, ["ADMIN_API_TOKEN"] = "admin-token",
                };
                // Each node in its own directory, as on its own machine: nothing but PostgreSQL is shared.
                var p = CliProcess.StartIn(dir, env, "run", "--config", config);
                _nodes.Add((p, btp, http, dir));
                starting.Add(CliProcess.WaitForHealth(http, p, TimeSpan.FromSeconds(90)));
            }
            await Task.WhenAll(starting);
            Engine.KillNode = node =>
            {
                var (process, _, _, _) = _nodes[int.Parse(node[1..], CultureInfo.InvariantCulture)];
                using var os = Process.GetProcessById(process.Id);
                os.Kill();
                _output.WriteLine($"engine: killed {node} (pid {process.Id}) after accepting its b4 payment");
                return true;
            };
            foreach (var (_, btp, _, _) in _nodes)
            {
                _peers.Add(await TestPeer.ConnectAsync(btp, "alice", "alice-secret"));
                foreach (var r in Receivers) _peers.Add(await TestPeer.ConnectAsync(btp, r, $"{r}-secret"));
            }
            _output.WriteLine($"cluster of {_nodes.Count} nodes up in {watch.Elapsed.TotalSeconds:F1} s");
        }

        private static string Config(Uri engine)
        {
            string Peer(string id, ulong threshold, int minInterval) =>
                $"  - {{ id: {id}, authToken: {id}-secret, settlement: {{ threshold: {threshold}, settleTo: 0, method: rfc38, engineUrl: \"{engine}\", minIntervalSeconds: {minInterval} }} }}\n";
            return "nodeId: node\nilpAddress: g.node\nledger: { backend: postgres }\nlimits: { settlementLeaseMs: 2000 }\npeers:\n"
                + "  - { id: alice, authToken: alice-secret }\n"
                + Peer("b1", Threshold, 0) + Peer("b2", Threshold, 0) + Peer("b3", Threshold, 0) + Peer("b4", Threshold, 0) + Peer("b5", 1_000, 3600)
                + "routes:\n" + string.Concat(Receivers.Select(r => $"  - {{ prefix: g.{r}, nextHop: {r} }}\n"));
        }

        /// <summary>Sends <paramref name="count"/> payments of <paramref name="amount"/> from alice to <paramref name="peer"/>, spread over all nodes at once; returns the fulfilled sum.</summary>
        public async Task<ulong> SendAsync(string peer, int count, ulong amount, Random random)
        {
            var alices = Nodes.Select(n => _peers[n * (Receivers.Length + 1)]).ToList();
            var sends = Enumerable.Range(0, count).Select(_ => alices[random.Next(alices.Count)]).Select(a => a.SendAsync(TestPeer.Payment($"g.{peer}.x", amount)));
            var replies = await Task.WhenAll(sends);
            Assert.All(replies, r => Assert.IsType<IlpFulfill>(r));
            return (ulong)count * amount;
        }

        public async Task<int> ExecuteAsync(int node, string peer)
        {
            using var r = await _http.PostAsJsonAsync($"http://127.0.0.1:{_nodes[node].Http}/settlement/execute", new { peerId = peer });
            return (int)r.StatusCode;
        }

        /// <summary>Until the peer is settled as <paramref name="done"/> says (<see cref="SharedLedgerQueries.WaitSettledAsync"/>); after 90 s it returns anyway.</summary>
        public async Task WaitAsync(string peer, Func<long, bool> done)
        {
            if (!await SharedLedgerQueries.WaitSettledAsync(_url, peer, done)) _output.WriteLine($"{peer}: not settled within 90 s\n{Logs()}");
        }

        public Task<(long Owed, long Booked)> BalancesAsync(string peer) => SharedLedgerQueries.BalancesAsync(_url, peer);

        /// <summary>`ledger verify` on the shared ledger; a connect timeout on this loaded 2-core machine is retried (it says nothing about the books).</summary>
        public async Task<(int Code, string Output)> VerifyLedgerAsync()
        {
            for (int attempt = 1; ; attempt++)
            {
                var (code, stdout, stderr) = await CliProcess.RunAsync(new Dictionary<string, string> { ["LEDGER_POSTGRES_URL"] = _url }, "ledger", "verify", "--config", _config);
                if (code == 0 || attempt == 3 || !(stdout + stderr).Contains("ledger unavailable", StringComparison.Ordinal)) return (code, stdout + stderr);
                _output.WriteLine($"ledger verify: {stderr.Trim()}; retrying");
            }
        }

        private string Logs() => string.Join("\n", _nodes.Select((n, i) => $"--- node{i} stdout:\n{n.Process.Stdout}\n--- stderr:\n{n.Process.Stderr}"));

        public async ValueTask DisposeAsync()
        {
            foreach (var p in _peers) await p.DisposeAsync();
            foreach (var (process, _, _, dir) in _nodes)
            {
                process.Dispose();
                try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
            }
            _http?.Dispose();
            if (_engineApp is not null) await _engineApp.DisposeAsync();
        }
    }
}
