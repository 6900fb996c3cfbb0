using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using M2M.Core.Ilp;
using M2M.Server.Configuration;
using M2M.Server.Routing;
using M2M.TestKit;

namespace M2M.Server.Tests;

/// <summary>
/// Two nodes of a cluster on one PostgreSQL ledger share runtime peers and routes (table m2m_network): a peer or
/// route added on one node appears on the other within a few seconds, survives a restart of both, and one removed
/// on the other is gone everywhere; network.json is imported on first start.
/// </summary>
[Trait("Tier", "integration")]
public sealed class SharedNetworkPostgresTests(PostgresServer pg) : IClassFixture<PostgresServer>
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(20); // poll every 2 s; margin for a loaded machine

    private static ConnectorSettings Node(string db, string dir) => new()
    {
        NodeId = "hub",
        IlpAddress = "g.hub",
        AdminApiToken = "admin-token",
        BindAddress = "127.0.0.1",
        BtpServerPort = 0,
        HealthCheckPort = 0,
        Ledger = new LedgerSettings { Backend = LedgerBackend.Postgres, PostgresUrl = db, Path = Path.Combine(dir, "ledger.db") },
        Peers = [new PeerSettings { Id = "alice", AuthToken = "alice-secret" }],
        Routes = [new("g.alice", "alice")],
    };

    private static async Task<ConnectorHost> Start(ConnectorSettings settings, LogCapture? log = null)
    {
        var host = await ConnectorHost.CreateAsync(settings, (log ?? new LogCapture()).Factory());
        await host.StartAsync(CancellationToken.None);
        return host;
    }

    private static HttpClient Admin(ConnectorHost host)
    {
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{host.HealthPort}") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "admin-token");
        return http;
    }

    private static async Task Eventually(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Propagation;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not within {Propagation.TotalSeconds} s: {what}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_peer_added_on_one_node_appears_on_the_other_survives_restart_and_removal_on_the_other_reaches_the_first()
    {
        string db = await pg.CreateDatabaseAsync();
        string root = Path.Combine(Path.GetTempPath(), "m2m-tests", Guid.NewGuid().ToString("N"));
        string dirA = Path.Combine(root, "a"), dirB = Path.Combine(root, "b");
        // A node ran before with network.json (a runtime peer "carol"): it is imported on first start. With the
        // PostgreSQL ledger it was kept in ./data (ConnectorSettlement.SiblingPath), i.e. the test's working directory.
        string file = Path.GetFullPath(Path.Combine("data", NetworkStore.FileName));
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        await File.WriteAllTextAsync(file, """{"version":1,"peers":{"carol":{"id":"carol","authToken":"carol-secret"}},"removedPeers":[],"routes":[{"prefix":"g.carol","nextHop":"carol"}],"removedRoutes":[]}""");

        var logA = new LogCapture();
        var logB = new LogCapture();
        var a = await Start(Node(db, dirA), logA);
        var b = await Start(Node(db, dirB), logB);
        try
        {
            Assert.True(a.Network.Shared);
            Assert.False(File.Exists(file));
            Assert.True(File.Exists(file + ".imported"));
            Assert.Contains(logA.Lines, l => l.EventId == 1031);
            Assert.NotNull(b.Peers.Settings("carol")); // B never saw the file: it reads the table
            Assert.Equal("carol", b.Routes.Lookup("g.carol.x")?.NextHop);

            // Add on A: B applies it and accepts the peer's login; the route follows.
            using (var http = Admin(a))
            {
                var added = await http.PostAsJsonAsync("/admin/peers", new { id = "dave", authToken = "dave-secret" });
                Assert.True(added.StatusCode == HttpStatusCode.Created, await added.Content.ReadAsStringAsync());
                Assert.Equal(HttpStatusCode.Created, (await http.PostAsJsonAsync("/admin/routes", new { prefix = "g.dave", nextHop = "dave" })).StatusCode);
                // A YAML peer removed at runtime stays removed everywhere.
                Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync("/admin/peers/alice")).StatusCode);
            }
            // B logs "applied" (1032) just after it applies the change: wait for the line too, not only for its effect.
            await Eventually(() => b.Peers.Settings("dave") is not null && b.Routes.Lookup("g.dave.x")?.NextHop == "dave" && b.Peers.Settings("alice") is null
                && logB.Lines.Any(l => l.EventId == 1032), "B has dave and g.dave, not alice, and logged that it applied them");
            await using (var dave = await TestPeer.ConnectAsync(b.BtpPort, "dave", "dave-secret"))
            {
                // Routed by B: a route back to the sender is F02 (not "unknown peer"), which shows B knows dave and g.dave.
                var reply = Assert.IsType<IlpReject>(await dave.SendAsync(TestPeer.Payment("g.dave.x")));
                Assert.Equal("F02", reply.Code);
                Assert.Contains("leads back to the sending peer 'dave'", reply.Message);
            }
        }
        finally
        {
            await a.DisposeAsync();
            await b.DisposeAsync();
        }

        // Restart both: the state is as left (dave and g.dave, carol; alice removed although the YAML lists her).
        a = await Start(Node(db, dirA));
        b = await Start(Node(db, dirB));
        try
        {
            foreach (var node in new[] { a, b })
            {
                Assert.NotNull(node.Peers.Settings("dave"));
                Assert.NotNull(node.Peers.Settings("carol"));
                Assert.Null(node.Peers.Settings("alice"));
                Assert.Equal("dave", node.Routes.Lookup("g.dave.x")?.NextHop);
            }
            Assert.False(File.Exists(file)); // imported once, not again

            // Remove on B: gone on A, with its route.
            using (var http = Admin(b))
                Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync("/admin/peers/dave")).StatusCode);
            await Eventually(() => a.Peers.Settings("dave") is null && a.Routes.Lookup("g.dave.x") is null, "A forgets dave and g.dave");
            Assert.NotNull(a.Peers.Settings("carol")); // nothing else touched
        }
        finally
        {
            await a.DisposeAsync();
            await b.DisposeAsync();
        }
    }

    [Fact]
    public async Task With_sqlite_the_file_stays_per_node()
    {
        string dir = Path.Combine(Path.GetTempPath(), "m2m-tests", Guid.NewGuid().ToString("N"));
        var settings = Node("", dir) with { Ledger = new LedgerSettings { Path = Path.Combine(dir, "ledger.db") } };
        await using var host = await Start(settings);
        Assert.False(host.Network.Shared);
        using var http = Admin(host);
        Assert.Equal(HttpStatusCode.Created, (await http.PostAsJsonAsync("/admin/peers", new { id = "dave", authToken = "dave-secret" })).StatusCode);
        Assert.True(File.Exists(Path.Combine(dir, NetworkStore.FileName)));
    }
}
