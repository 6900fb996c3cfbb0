using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using M2M.Core.Ilp;
using M2M.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace M2M.Process.Tests;

/// <summary>POST /admin/drain on a real connector process with packets in flight and a settlement to finish.</summary>
[Trait("Tier", "process")]
public class DrainProcessTests
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    [Fact]
    public async Task Drain_waits_for_in_flight_packets_and_the_pending_settlement_rejects_new_prepares_then_exits_0()
    {
        var engineCalls = new ConcurrentQueue<string>();
        var (engine, engineUrl) = await LoopbackWeb.StartAsync(app => app.MapPost("/accounts/{id}/settlements", async (HttpContext ctx) =>
        {
            using var body = await JsonDocument.ParseAsync(ctx.Request.Body);
            await Task.Delay(1500); // a slow settlement engine: the settlement stays submitted for a while
            engineCalls.Enqueue(body.RootElement.GetProperty("amount").GetString()!);
            return Results.Created();
        }));
        await using var _ = engine;
        string dir = OpsScripts.TempDir();
        Directory.CreateDirectory(dir);
        string config = Path.Combine(dir, "drain.yaml");
        // Threshold 500: only the last of the 5 packets of 100 reaches it, so the one settlement is for all
        // five whenever the coordinator's poll lands (with 100, a poll between two fulfills could settle a part).
        await File.WriteAllTextAsync(config, $"""
            nodeId: drain-node
            ilpAddress: test.drain
            peers:
              - id: alice
                relation: child
              - id: bob
                relation: child
                settlement: {"{"} threshold: 500, settleTo: 0, method: rfc38, engineUrl: "{engineUrl}" {"}"}
            """);
        using var connector = await RunningConnector.StartAsync(config, new Dictionary<string, string>
        {
            ["BTP_PEER_ALICE_SECRET"] = "alice-secret", ["BTP_PEER_BOB_SECRET"] = "bob-secret", ["LEDGER_PATH"] = Path.Combine(dir, "ledger.db"),
        });
        await using var alice = await TestPeer.ConnectAsync(connector.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(connector.BtpPort, "bob", "bob-secret");
        // A fulfilling peer held until the drain has begun: the packets are in flight when it starts, whatever the
        // machine's load (a fixed 2 s hold raced the metric scrape and the drain request: inFlight could read 4).
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bob.OnPrepare = async p =>
        {
            await release.Task;
            return new IlpFulfill { Fulfillment = p.Data.ToArray() };
        };

        var payments = Enumerable.Range(0, 5).Select(_ => alice.SendAsync(TestPeer.Payment("test.drain.bob.x", 100, expiresInSeconds: 20))).ToList();
        await WaitForMetric(connector, "ilp_packets_in_flight", 5);

        var (drainCode, drain) = await Admin(connector, HttpMethod.Post, "/admin/drain?timeoutSeconds=30");
        Assert.Equal(HttpStatusCode.Accepted, drainCode);
        Assert.Equal("draining", drain.GetProperty("status").GetString());
        Assert.Equal(5, drain.GetProperty("inFlight").GetInt64());

        var late = await alice.SendAsync(TestPeer.Payment("test.drain.bob.x", 100));
        Assert.Equal("T03", Assert.IsType<IlpReject>(late).Code);
        using (var ready = await Http.GetAsync(connector.BaseUrl + "/health/ready"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.Contains("\"reason\":\"draining\"", await ready.Content.ReadAsStringAsync());
        }
        release.SetResult(); // bob answers now: the drain waits for these five and the settlement they bring

        var pendingSeen = await ScrapeUntilExit(connector);
        Assert.Equal(0, await connector.Process.WaitForExitAsync(TimeSpan.FromSeconds(40)));

        Assert.All(await Task.WhenAll(payments), r => Assert.IsType<IlpFulfill>(r)); // the in-flight packets finished
        // …before the drain closed the inbound sessions itself, as "going away" (1001), so a peer behind a load
        // balancer reconnects elsewhere (the stop's own close is a normal 1000).
        var aliceSession = await alice.FirstSession;
        await aliceSession.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.EndpointUnavailable, aliceSession.PeerCloseStatus);
        Assert.Contains(1.0, pendingSeen);                                           // a settlement was pending during the drain…
        Assert.Equal(["500"], engineCalls.ToArray());                                // …and was executed once, for all 5 packets
        Assert.Contains("Drained: 0 packets in flight, 0 settlements pending", connector.Process.Stdout);
        Assert.Contains("Stopped", connector.Process.Stdout);
        Assert.DoesNotContain("Drain deadline passed", connector.Process.Stdout);

        // The books after the drain, read from the file by the operator's commands: consistent, nothing left pending,
        // alice paid the 500 she sent, and bob's 500 was settled to 0 (the settlement's post is in the ledger).
        var ledgerEnv = new Dictionary<string, string> { ["LEDGER_PATH"] = Path.Combine(dir, "ledger.db") };
        var verify = await CliProcess.RunAsync(ledgerEnv, "ledger", "verify", "--config", config);
        Assert.True(verify.Code == 0, $"ledger verify exited {verify.Code}: {verify.Stdout}{verify.Stderr}");
        Assert.Contains(" 0 open pending", verify.Stdout);
        var balances = await CliProcess.RunAsync(ledgerEnv, "ledger", "balances", "--config", config);
        Assert.True(balances.Code == 0, balances.Stderr);
        Assert.Matches(@"peer:alice:USD/9\s+-500\s", balances.Stdout);
        Assert.Matches(@"peer:bob:USD/9\s+0\s", balances.Stdout);
    }

    [Fact]
    public async Task Drain_needs_the_admin_token_and_validates_the_timeout()
    {
        using var connector = await RunningConnector.StartAsync(null);
        using (var anonymous = await Http.PostAsync(connector.BaseUrl + "/admin/drain", null))
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        var (badCode, bad) = await Admin(connector, HttpMethod.Post, "/admin/drain?timeoutSeconds=soon");
        Assert.Equal(HttpStatusCode.BadRequest, badCode);
        Assert.Contains("timeoutSeconds", bad.GetProperty("error").GetString());
        var (statusCode, status) = await Admin(connector, HttpMethod.Get, "/admin/drain");
        Assert.Equal((HttpStatusCode.OK, "running"), (statusCode, status.GetProperty("status").GetString()));
        using (var ready = await Http.GetAsync(connector.BaseUrl + "/health/ready"))
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    private static async Task<(HttpStatusCode, JsonElement)> Admin(RunningConnector connector, HttpMethod method, string path)
    {
        using var request = new HttpRequestMessage(method, connector.BaseUrl + path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", OpsScripts.AdminToken);
        using var response = await Http.SendAsync(request);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, doc.RootElement.Clone());
    }

    private static async Task WaitForMetric(RunningConnector connector, string name, double value)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (MetricValue(await Http.GetStringAsync(connector.BaseUrl + "/metrics"), name) == value) return;
            await Task.Delay(20);
        }
        Assert.Fail($"{name} never reached {value}");
    }

    /// <summary>settlements_pending from every scrape until the process stops answering.</summary>
    private static async Task<List<double>> ScrapeUntilExit(RunningConnector connector)
    {
        var seen = new List<double>();
        var deadline = DateTime.UtcNow.AddSeconds(40);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (MetricValue(await Http.GetStringAsync(connector.BaseUrl + "/metrics"), "settlements_pending") is { } v) seen.Add(v);
            }
            catch (HttpRequestException)
            {
                return seen;
            }
            await Task.Delay(50);
        }
        return seen;
    }

    /// <summary>The value of an unlabelled sample (the line that starts with the name, not the # HELP/# TYPE lines).</summary>
    private static double? MetricValue(string metrics, string name) =>
        metrics.Split('\n').Where(l => l.StartsWith(name + " ", StringComparison.Ordinal))
            .Select(l => (double?)double.Parse(l[(name.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
}
