using System.Globalization;
using System.Text.Json;
using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Ledger.Sqlite;
using M2M.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace M2M.Reliability.Tests;

/// <summary>
/// Issue 15 on SQLite, with the real executable and an RFC 38 engine stand-in: the settlement record and the
/// ledger reservation of its amount are one commit of the ledger's writer (the record is in ledger.db). The
/// connector dies between the intent and the payment (crash point settlement-created, inside
/// POST /settlement/execute), between the reservation
/// and the payment (pause point settlement-reserved-before-pay, then SIGKILL) and between the payment and the
/// ledger debit (crash point settlement-paid-before-post). Each time, right after the death the obligation is
/// reserved by exactly the settlement's amount (never unreserved, so never looking unpaid); after a restart it
/// is paid exactly once (one Idempotency-Key, one amount), booked once, and `ledger verify` passes.
/// </summary>
[Trait("Tier", "process")]
public sealed class SqliteSettlementCrashTests(ITestOutputHelper output) : IDisposable
{
    private const ulong Owed = 1_200; // 12 packets of 100, settled by POST /settlement/execute (the threshold is out of reach), settleTo 0
    private static readonly UInt128 Bob = PeerAccounts.PeerAccountId("bob", PeerAccounts.LedgerFor("USD", 9));
    private readonly string _dir = Directory.CreateTempSubdirectory("m2m-sqlite-settle-").FullName;

    [Theory]
    [InlineData("crash", "settlement-created", 0)]
    [InlineData("pause", "settlement-reserved-before-pay", 0)]
    [InlineData("crash", "settlement-paid-before-post", 1)]
    public async Task A_connector_killed_between_intent_and_booking_pays_once_after_a_restart(string how, string point, int paidBeforeDeath)
    {
        var engine = new Engine();
        var (engineApp, engineUrl) = await LoopbackWeb.StartAsync(app =>
            app.MapPost("/e/accounts/{peer}/settlements", (string peer, HttpContext ctx) => engine.HandleAsync(peer, ctx)));
        await using var _ = engineApp;
        string ledgerPath = Path.Combine(_dir, "data", "ledger.db");
        string config = Path.Combine(_dir, "config.yaml");
        await File.WriteAllTextAsync(config, $$"""
            nodeId: settle
            ilpAddress: g.settle
            peers:
              - { id: alice, authToken: alice-secret }
              - { id: bob, authToken: bob-secret, settlement: { threshold: 1000000, settleTo: 0, method: rfc38, engineUrl: "{{new Uri(engineUrl, "e/")}}" } }
            routes:
              - { prefix: g.bob, nextHop: bob }
            """);
        int btp = CliProcess.FreePort(), http = CliProcess.FreePort();
        var env = ProcessSupport.Ports(btp, http, ledgerPath);
        env["ADMIN_API_TOKEN"] = "admin-token";

        using (var dying = CliProcess.StartIn(_dir, new Dictionary<string, string>(env) { [how == "crash" ? "M2M_CRASHPOINT" : "M2M_PAUSEPOINT"] = point }, "run", "--config", config))
        {
            await CliProcess.WaitForHealth(http, dying, TimeSpan.FromSeconds(60));
            await using (var alice = await TestPeer.ConnectAsync(btp, "alice", "alice-secret"))
            await using (var bob = await TestPeer.ConnectAsync(btp, "bob", "bob-secret"))
            {
                for (int i = 0; i < 12; i++) Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 100)));
                // The request creates the record (settlement-created dies inside it, so its answer may never come); the loop pays.
                using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
                client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "admin-token");
                try
                {
                    using var r = await client.PostAsync($"http://127.0.0.1:{http}/settlement/execute", new StringContent("""{"peerId":"bob"}""", System.Text.Encoding.UTF8, "application/json"));
                    output.WriteLine($"/settlement/execute: {(int)r.StatusCode}");
                }
                catch (HttpRequestException e) when (point == "settlement-created")
                {
                    output.WriteLine($"/settlement/execute: no answer ({e.Message}): the process died creating it");
                }
                if (how == "pause")
                {
                    await dying.WaitForStderr($"paused at {point}", TimeSpan.FromSeconds(30));
                    dying.Signal(CliProcess.SIGKILL);
                }
                int code = await dying.WaitForExitAsync(TimeSpan.FromSeconds(30));
                Assert.NotEqual(0, code);
            }
            output.WriteLine($"{point}: died; stderr tail: {Tail(dying.Stderr)}");
        }

        // Dead between the intent and the booking: the record is in ledger.db and the amount is reserved.
        Assert.False(File.Exists(Path.Combine(_dir, "data", "settlements.db")), "settlement records belong in ledger.db");
        Assert.Equal((1L, (long)Owed), SettlementRows(ledgerPath, open: true));
        await using (var ledger = SqliteLedger.Open(ledgerPath))
        {
            var bob = (await ledger.LookupAccountAsync(Bob))!;
            Assert.Equal((Int128)Owed, bob.PostedBalance); // not booked yet ...
            Assert.Equal((UInt128)Owed, bob.DebitsPending); // ... but reserved with the record: it cannot look unpaid or start twice
        }
        Assert.Equal(paidBeforeDeath, engine.Keys);

        using (var restarted = CliProcess.StartIn(_dir, env, "run", "--config", config))
        {
            await CliProcess.WaitForHealth(http, restarted, TimeSpan.FromSeconds(60));
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (SettlementRows(ledgerPath, open: false) != (1L, (long)Owed) && DateTime.UtcNow < deadline) await Task.Delay(200);
            Assert.True(SettlementRows(ledgerPath, open: false) == (1L, (long)Owed), $"not confirmed in 60 s\n{restarted.Stdout}\n{restarted.Stderr}");
            restarted.Signal(CliProcess.SIGTERM);
            Assert.Equal(0, await restarted.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        }

        Assert.Equal(1, engine.Keys);
        Assert.Equal(Owed, engine.Paid);
        Assert.Equal(0, engine.Conflicts);
        await using (var ledger = SqliteLedger.Open(ledgerPath))
        {
            var bob = (await ledger.LookupAccountAsync(Bob))!;
            Assert.Equal(((Int128)0, (UInt128)0, (UInt128)Owed), (bob.PostedBalance, bob.DebitsPending, bob.DebitsPosted)); // booked once
        }
        var (verify, stdout, stderr) = await CliProcess.RunAsync(new Dictionary<string, string> { ["LEDGER_PATH"] = ledgerPath }, "ledger", "verify", "--config", config);
        Assert.True(verify == 0, $"ledger verify exited {verify}: {stdout}{stderr}");
    }

    /// <summary>(rows, sum of amounts) of the settlements in ledger.db that are open (pending, submitted) or confirmed.</summary>
    private static (long Rows, long Amount) SettlementRows(string ledgerPath, bool open)
    {
        using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = ledgerPath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT count(*), coalesce(sum(amount), 0) FROM settlements WHERE state {(open ? "IN (0, 1)" : "= 2")}";
        using var r = cmd.ExecuteReader();
        r.Read();
        return (r.GetInt64(0), r.GetInt64(1));
    }

    private static string Tail(string text) => text.Length <= 300 ? text : text[^300..];

    /// <summary>The RFC 38 engine stand-in: per Idempotency-Key the first accepted amount is the payment.</summary>
    private sealed class Engine
    {
        private readonly Lock _lock = new();
        private readonly Dictionary<string, ulong> _paid = [];
        private int _conflicts;

        public int Keys
        {
            get { lock (_lock) return _paid.Count; }
        }

        public ulong Paid
        {
            get { lock (_lock) return _paid.Values.Aggregate(0UL, (a, b) => checked(a + b)); }
        }

        public int Conflicts
        {
            get { lock (_lock) return _conflicts; }
        }

        public async Task<IResult> HandleAsync(string peer, HttpContext ctx)
        {
            string key = $"{peer}/{ctx.Request.Headers["Idempotency-Key"]}";
            var body = (await JsonDocument.ParseAsync(ctx.Request.Body)).RootElement;
            ulong amount = ulong.Parse(body.GetProperty("amount").GetString()!, CultureInfo.InvariantCulture);
            lock (_lock)
            {
                if (_paid.TryGetValue(key, out var earlier)) _conflicts += earlier == amount ? 0 : 1;
                else _paid[key] = amount;
            }
            return Results.Created();
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
