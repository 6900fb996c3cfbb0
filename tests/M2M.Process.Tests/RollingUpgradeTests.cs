using System.Diagnostics;
using System.Text.RegularExpressions;
using M2M.TestKit;
using Xunit.Abstractions;

namespace M2M.Process.Tests;

/// <summary>
/// Rolling upgrade of a 3-node cluster on one PostgreSQL ledger (a real server) behind a real
/// HAProxy, under load: three paying peers (alice, carol, dave) send through HAProxy all along to
/// a receiver behind an upstream connector, which each node reaches as its own outgoing peer (its
/// nodeId is its login). scripts/rolling-upgrade.sh (bare mode) drains one node at a time
/// (SIGTERM: T03 for new Prepares, /health/ready 503 so HAProxy marks it down and sends it no new
/// connections; once its packets in flight are answered the node closes its payers' sessions itself
/// with 1001, and they reconnect through HAProxy to another node), starts the new release, waits
/// until it is ready and HAProxy has it UP, and goes on. Audited (RELIABILITY.md R19, 0 packets
/// lost): one outcome per Prepare, only T01/T03 or "unsent" (sent as the node's 1001 close crossed
/// it: never handled there, counted by the node) during a node switch, bounded and measured per
/// switch; 0 replies lost; every unit the receiver was paid was debited from the payers in the shared
/// ledger and seen fulfilled by them, 0 booked to connector-loss (no event 4010); the upstream was
/// paid for every packet by the nodes; no pending transfer left; `ledger verify` consistent on the
/// cluster's and the upstream's ledgers. (With HAProxy's on-marked-down shutdown-sessions, each
/// run lost a few replies and booked up to 2 packets to connector-loss.)
/// </summary>
[Collection("data")]
public partial class RollingUpgradeTests(PostgresServer postgres, ITestOutputHelper output) : IClassFixture<PostgresServer>
{
    private const string AdminToken = "cluster-admin-token-2f6a91c0";
    private const string UpstreamToken = "cluster-upstream-secret-8d3e";
    private const ulong Amount = 10;
    private static readonly string[] Payers = ["alice", "carol", "dave"];

    [Fact]
    [Trait("Tier", "process")]
    public async Task Rolling_upgrade_of_three_nodes_under_load_through_haproxy_keeps_the_books_exact()
    {
        Assert.True(HaproxyProcess.Executable is not null, "haproxy is not installed (apt-get install haproxy; .ci/run installs it)");
        string url = await postgres.CreateDatabaseAsync();
        string dir = Directory.CreateTempSubdirectory("m2m-rolling-").FullName;
        var children = new List<CliProcess>();
        var pidFiles = new List<string>();
        var metrics = new Dictionary<string, string>(); // the ledger-outcome metrics of each process, read before it stops
        try
        {
            int upBtp = CliProcess.FreePort(), upHttp = CliProcess.FreePort();
            string upConfig = Path.Combine(dir, "upstream.yaml");
            await File.WriteAllTextAsync(upConfig, $$"""
                nodeId: upstream
                ilpAddress: g.upstream
                peers:
                  - { id: node-1, authToken: {{UpstreamToken}} }
                  - { id: node-2, authToken: {{UpstreamToken}} }
                  - { id: node-3, authToken: {{UpstreamToken}} }
                  - { id: receiver, authToken: receiver-secret-1c9e }
                routes:
                  - { prefix: g.receiver, nextHop: receiver }
                """);
            var upstream = CliProcess.Start(new Dictionary<string, string>
            {
                ["BTP_SERVER_PORT"] = upBtp.ToString(), ["HEALTH_CHECK_PORT"] = upHttp.ToString(), ["BIND_ADDRESS"] = "127.0.0.1",
                ["LEDGER_PATH"] = UpstreamLedger(dir),
            }, "run", "--config", upConfig);
            children.Add(upstream);
            await CliProcess.WaitForHealth($"http://127.0.0.1:{upHttp}/health", upstream);
            await using var receiver = await TestPeer.ConnectAsync(upBtp, "receiver", "receiver-secret-1c9e");

            string config = Path.Combine(dir, "cluster.yaml");
            await File.WriteAllTextAsync(config, $$"""
                ilpAddress: g.cluster
                ledger: { backend: postgres }
                peers:
                  - { id: alice, authToken: alice-secret-55ab }
                  - { id: carol, authToken: carol-secret-55ab }
                  - { id: dave, authToken: dave-secret-55ab }
                  - { id: upstream, url: "ws://127.0.0.1:{{upBtp}}/", authToken: {{UpstreamToken}} }
                routes:
                  - { prefix: g.receiver, nextHop: upstream }
                """);
            var nodes = new List<(string Name, int Btp, int Http, string PidFile)>();
            for (int i = 1; i <= 3; i++)
            {
                string name = $"node-{i}";
                int btp = CliProcess.FreePort(), http = CliProcess.FreePort();
                // Each node's settings in its own env file: what `run --env-file` is for (the environment would win over it).
                await File.WriteAllTextAsync(Path.Combine(dir, name + ".env"),
                    $"NODE_ID={name}\nBTP_SERVER_PORT={btp}\nHEALTH_CHECK_PORT={http}\nBIND_ADDRESS=127.0.0.1\nLEDGER_POSTGRES_URL={url}\nADMIN_API_TOKEN={AdminToken}\n");
                string pidFile = Path.Combine(dir, name + ".pid");
                var p = CliProcess.StartIn(dir, new Dictionary<string, string>(), "run", "--config", config, "--env-file", Path.Combine(dir, name + ".env"));
                children.Add(p);
                await File.WriteAllTextAsync(pidFile, p.Id.ToString());
                pidFiles.Add(pidFile);
                nodes.Add((name, btp, http, pidFile));
            }
            foreach (var (name, _, http, _) in nodes) await CliProcess.WaitForHealth($"http://127.0.0.1:{http}/health", children[nodes.FindIndex(n => n.Name == name) + 1]);
            await Eventually.Until(() => Enumerable.Range(1, 3).All(i => upstream.Stdout.Contains($"Peer node-{i} connected")), "the three nodes log in upstream");

            using var haproxy = await HaproxyProcess.StartAsync(dir, nodes.Select(n => (n.Name, n.Btp, n.Http, false)).ToList());
            var loads = Payers.Select(p => new PaymentLoad(haproxy.BtpPort, p, $"{p}-secret-55ab", "g.receiver.shop", Amount)).ToList();
            foreach (var load in loads) load.Start(workers: 2, pause: TimeSpan.FromMilliseconds(5));
            foreach (var load in loads) await load.WaitForFulfilledAsync(30, TimeSpan.FromSeconds(60));

            // The upgrade: the "new release" is this build again (the version does not matter to the procedure).
            var switchTimes = new List<string>();
            var (code, stdout) = await RunStreaming(dir, new Dictionary<string, string> { ["HAPROXY_ADMIN"] = haproxy.Admin },
                line =>
                {
                    var m = Regex.Match(line, @"^== \[\d/3\] (node-\d)");
                    if (m.Success) foreach (var load in loads) load.Phase = m.Groups[1].Value;
                    if (line.Contains("switched in", StringComparison.Ordinal)) switchTimes.Add(line.Trim());
                },
                ["--mode", "bare", .. nodes.SelectMany(n => new[] { "--node", $"{n.Name}=http://127.0.0.1:{n.Http}={n.PidFile}" }),
                 "--start", $"dotnet {ScriptRunner.Dll} run --config {config} --env-file {dir}/{{node}}.env", "--log-dir", dir, "--timeout", "90"]);
            output.WriteLine(stdout);
            Assert.True(code == 0, stdout);
            Assert.Contains("✓ rolling upgrade done: 3 nodes", stdout);
            foreach (var load in loads) load.Phase = "after";
            foreach (var load in loads) await load.WaitForFulfilledAsync(20, TimeSpan.FromSeconds(60));
            foreach (var load in loads) await load.StopAsync();
            foreach (var p in children.Skip(1)) Assert.Equal(0, await p.WaitForExitAsync(TimeSpan.FromSeconds(5))); // each old node drained and exited 0

            // Per node switch: what the payers saw.
            foreach (var node in nodes)
            {
                int t01 = loads.Sum(l => l.Count($"{node.Name}/T01")), t03 = loads.Sum(l => l.Count($"{node.Name}/T03")),
                    unsent = loads.Sum(l => l.Count($"{node.Name}/unsent")), lost = loads.Sum(l => l.Count($"{node.Name}/lost"));
                output.WriteLine($"{node.Name}: fulfilled {loads.Sum(l => l.Count($"{node.Name}/fulfilled"))}, T01 {t01}, T03 {t03}, unsent {unsent}, lost {lost}");
                Assert.True(t01 + t03 <= 300 && unsent <= 10 && lost == 0, $"{node.Name}: T01 {t01}, T03 {t03}, unsent {unsent}, lost {lost}");
            }
            output.WriteLine(string.Join("\n", switchTimes));
            foreach (var load in loads)
            {
                output.WriteLine($"{load.Describe()}; sent {load.Sent}");
                foreach (var (key, n) in load.Outcomes.Where(o => !o.Key.Contains('/')))
                    Assert.True(key is "fulfilled" or "T01" or "T03" or "unsent", $"{key}={n}: {load.Describe()}");
            }

            // The books, after every node and the upstream stopped gracefully.
            foreach (var node in nodes) metrics[node.Name + " (new)"] = await LedgerOutcomeMetrics(node.Http);
            metrics["upstream"] = await LedgerOutcomeMetrics(upHttp);
            foreach (var pidFile in pidFiles) await TermAsync(int.Parse(await File.ReadAllTextAsync(pidFile)));
            await DataTestNode.StopAsync(upstream);
            var env = new Dictionary<string, string> { ["LEDGER_POSTGRES_URL"] = url, ["NODE_ID"] = "auditor" };
            var verify = await CliProcess.RunAsync(env, "ledger", "verify", "--config", config);
            Assert.True(verify.Code == 0, verify.Stdout + verify.Stderr);
            Assert.Contains(" 0 open pending", verify.Stdout);
            var (_, balances, _) = await CliProcess.RunAsync(env, "ledger", "balances", "--config", config);
            long paid = -Enumerable.Sum(Payers, p => Posted(balances, p));
            long toUpstream = Posted(balances, "upstream");
            UInt128 upstreamFromNodes = 0;
            for (int i = 1; i <= 3; i++) upstreamFromNodes += await DataTestNode.DebitsPosted(UpstreamLedger(dir), $"peer:node-{i}");
            var upVerify = await CliProcess.RunAsync(new Dictionary<string, string> { ["LEDGER_PATH"] = UpstreamLedger(dir) }, "ledger", "verify");
            Assert.True(upVerify.Code == 0, upVerify.Stdout + upVerify.Stderr);

            // The two-leg rule (RELIABILITY.md) never has to act: a draining node closes its payers' sessions
            // only once every packet in flight is answered, so no Fulfill finds its sender gone (the old
            // HAProxy shutdown-sessions made the node book such packets to connector-loss, event 4010).
            long clusterLoss = -Balance(balances, "connector-loss") ?? 0;
            int unrecoverable = NodeLogs(dir, children).Sum(log => Regex.Count(log, @"\[4010\] Unrecoverable Fulfill"));
            long seen = loads.Sum(l => (long)l.FulfilledAmount), lostTotal = loads.Sum(l => l.Lost), unsentTotal = loads.Sum(l => l.Unsent);
            // Each node counts the requests that reached it after its close began (event 2020); "unsent" at the
            // payers also counts those their own session refused once the close had arrived, never sent at all.
            int refusedAtNodes = NodeLogs(dir, children).Sum(log => Regex.Matches(log, @"\[2020\] BTP session \S+: (\d+) requests").Sum(m => int.Parse(m.Groups[1].Value)));
            output.WriteLine($"books: payers debited {paid}, upstream credited {toUpstream}, connector loss {clusterLoss} ({unrecoverable} unrecoverable Fulfills), payers saw {seen} fulfilled, {lostTotal} replies lost, {unsentTotal} unsent ({refusedAtNodes} of them refused by the nodes while closing)");
            Assert.Equal(0, lostTotal);
            Assert.Equal(0, unrecoverable);
            Assert.Equal(0, clusterLoss);
            Assert.True(refusedAtNodes <= unsentTotal, $"the nodes refused {refusedAtNodes} requests while closing, the payers saw only {unsentTotal} unsent");
            Assert.Equal((long)receiver.Received.Count * (long)Amount, paid);
            Assert.Equal(paid, toUpstream);
            // The nodes close their upstream session only after their drain (no packet in flight), so the
            // upstream delivers every Fulfill to the node that sent the Prepare: no loss there.
            Assert.Equal((UInt128)toUpstream, upstreamFromNodes);
            Assert.Equal(0UL, (ulong)await DataTestNode.DebitsPosted(UpstreamLedger(dir), "connector-loss"));
            // What the payers saw: exactly what they were debited (no reply lost, no unsent Prepare handled).
            Assert.Equal(paid, seen);
            foreach (var load in loads) await load.DisposeAsync();
        }
        catch (Exception) when (Diagnose(dir, children, metrics))
        {
            throw; // not reached: Diagnose prints and returns false
        }
        finally
        {
            foreach (var pidFile in pidFiles.Where(File.Exists))
                if (int.TryParse(await File.ReadAllTextAsync(pidFile), out int pid)) await ScriptRunner.StopPidAsync(pid);
            foreach (var p in children) p.Dispose();
        }
    }

    /// <summary>SIGTERM (the connector drains and exits 0) to a node the script started, and wait until it is gone.</summary>
    private static async Task TermAsync(int pid)
    {
        using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", pid.ToString()])) await kill.WaitForExitAsync();
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(45))
        {
            try
            {
                using var p = System.Diagnostics.Process.GetProcessById(pid);
                if (p.HasExited) return;
            }
            catch (ArgumentException)
            {
                return;
            }
            await Task.Delay(100);
        }
        Assert.Fail($"node pid {pid} did not stop within 45 s of SIGTERM");
    }

    /// <summary>
    /// On failure (an exception filter, so it runs before the finally stops the nodes): each process's
    /// ledger-outcome metrics and log, kept in <paramref name="dir"/> too. Always false.
    /// </summary>
    private bool Diagnose(string dir, List<CliProcess> children, Dictionary<string, string> metrics)
    {
        output.WriteLine($"--- failure diagnostics (logs kept in {dir}) ---");
        foreach (var (name, text) in metrics) output.WriteLine($"metrics of {name}:\n{text}");
        for (int i = 0; i < children.Count; i++)
        {
            string name = i == 0 ? "upstream" : $"node-{i} (first release)";
            string log = children[i].Stdout + children[i].Stderr;
            File.WriteAllText(Path.Combine(dir, i == 0 ? "upstream.log" : $"node-{i}.first.log"), log);
            output.WriteLine($"--- log of {name}: {log.Length} chars, lines that are not Information:");
            foreach (var line in log.Split('\n').Where(l => !l.Contains("info:", StringComparison.OrdinalIgnoreCase) && !l.Contains("\"Information\"", StringComparison.Ordinal)).Take(300))
                output.WriteLine(line);
        }
        foreach (var file in Directory.GetFiles(dir, "node-?.log"))
        {
            output.WriteLine($"--- {Path.GetFileName(file)} (the new releases, started by the script):");
            foreach (var line in File.ReadLines(file).Where(l => !l.Contains("info:", StringComparison.OrdinalIgnoreCase)).Take(300)) output.WriteLine(line);
        }
        return false;
    }

    /// <summary>The metric lines about unrecoverable Fulfills, failed posts, doubtful posts and drains from a live process.</summary>
    private static async Task<string> LedgerOutcomeMetrics(int httpPort)
    {
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            string text = await http.GetStringAsync($"http://127.0.0.1:{httpPort}/metrics");
            return string.Join("\n", text.Split('\n').Where(l => !l.StartsWith('#') &&
                (l.Contains("unrecoverable", StringComparison.Ordinal) || l.Contains("post_failed", StringComparison.Ordinal) || l.Contains("doubtful", StringComparison.Ordinal) || l.Contains("error_total", StringComparison.Ordinal))));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return $"(no metrics: {e.Message})";
        }
    }

    private static string UpstreamLedger(string dir) => Path.Combine(dir, "upstream", "ledger.db");

    /// <summary>Every cluster node's log: the first releases (this test's children) and the new ones (the script's log files).</summary>
    private static IEnumerable<string> NodeLogs(string dir, List<CliProcess> children) =>
        children.Skip(1).Select(c => c.Stdout + c.Stderr).Concat(Directory.GetFiles(dir, "node-?.log").Select(File.ReadAllText));

    /// <summary>The posted balance of the account whose name starts with <paramref name="prefix"/> in `ledger balances` output, or null if it has none.</summary>
    private static long? Balance(string balances, string prefix)
    {
        var m = Regex.Match(balances, $@"^{Regex.Escape(prefix)}:\S+\s+(-?\d+)\s", RegexOptions.Multiline);
        return m.Success ? long.Parse(m.Groups[1].Value) : null;
    }

    /// <summary>The posted balance of peer <paramref name="peer"/> in `ledger balances` output.</summary>
    private static long Posted(string balances, string peer)
    {
        var m = Regex.Match(balances, $@"^peer:{peer}:\S+\s+(-?\d+)\s", RegexOptions.Multiline);
        Assert.True(m.Success, $"no line for {peer} in: {balances}");
        return long.Parse(m.Groups[1].Value);
    }

    /// <summary>scripts/rolling-upgrade.sh with its output line by line (the test follows its progress).</summary>
    private static async Task<(int Code, string Stdout)> RunStreaming(string dir, IDictionary<string, string> env, Action<string> onLine, params string[] args)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = dir };
        info.ArgumentList.Add(Path.Combine(RepoPaths.Root, "scripts", "rolling-upgrade.sh"));
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var name in new[] { "NODE_ID", "BTP_SERVER_PORT", "HEALTH_CHECK_PORT", "LEDGER_PATH", "LEDGER_POSTGRES_URL", "ADMIN_API_TOKEN", "CONFIG_FILE", "DEPLOY_MODE" })
            info.Environment.Remove(name);
        foreach (var (k, v) in env) info.Environment[k] = v;
        CliProcess.NoExplorerPort(info); // the nodes the script starts inherit it
        var text = new System.Text.StringBuilder();
        using var p = System.Diagnostics.Process.Start(info)!;
        p.OutputDataReceived += (_, e) => { if (e.Data is null) return; lock (text) text.AppendLine(e.Data); onLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is null) return; lock (text) text.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        await p.WaitForExitAsync(cts.Token);
        p.WaitForExit();
        lock (text) return (p.ExitCode, text.ToString());
    }
}
