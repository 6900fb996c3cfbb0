using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using M2M.Core.Ledger;
using M2M.Ledger.Sqlite;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>
/// Issue 17: hosted account alice on node A pays hosted account bob on node B (two connector processes, BTP between
/// them, B caps packets at 100 so the payment takes hundreds of packets); A is killed with SIGKILL mid-payment and
/// restarted. The payment resumes or ends failed naming the packet in flight; nothing is paid twice and each node's
/// books match what the other saw.
/// </summary>
[Trait("Tier", "process")]
public sealed class HostedPaymentKillTests
{
    private const string Admin = "kill-admin";
    private const ulong Funded = 1_000_000;
    private const ulong Amount = 60_000;

    private static int FreePort() => LoopbackPort.Free();

    private static string Config(string dir, string name, string yaml)
    {
        string path = Path.Combine(dir, name + ".yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    /// <summary>Before A starts: alice's ledger account holds <see cref="Funded"/>, paid in from an account standing for a deposit.</summary>
    private static async Task FundAsync(string ledgerPath)
    {
        await using var ledger = SqliteLedger.Open(ledgerPath);
        var alice = PeerAccounts.HostedAccount("alice", "USD", 9);
        var deposit = new Account { Id = new UInt128(17, 17), Ledger = alice.Ledger, Code = 9, Name = "test-deposit" };
        await ledger.CreateAccountsAsync([alice, deposit, PeerAccounts.ClearingAccount("USD", 9)]);
        var r = await ledger.CreateTransfersAsync([new Transfer { Id = new UInt128(17, 1), DebitAccountId = deposit.Id, CreditAccountId = alice.Id, Amount = Funded, Ledger = alice.Ledger, Code = 9 }]);
        Assert.Equal(CreateTransferResult.Ok, r[0]);
    }

    private static async Task<JsonElement> Json(HttpClient http, HttpMethod method, string url, object? body = null)
    {
        using var request = new HttpRequestMessage(method, url) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Admin);
        using var response = await http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{method} {url}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static ulong U(JsonElement e, string p) => ulong.Parse(e.GetProperty(p).GetString()!, System.Globalization.CultureInfo.InvariantCulture);

    private static async Task<long> Balance(HttpClient http, int port, string id)
    {
        var rows = await Json(http, HttpMethod.Get, $"http://127.0.0.1:{port}/admin/balances");
        return long.Parse(rows.EnumerateArray().Single(r => r.GetProperty("peerId").GetString() == id).GetProperty("balance").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Payment_interrupted_by_sigkill_of_the_sender_node_is_never_paid_twice_and_the_books_agree()
    {
        string dir = Directory.CreateTempSubdirectory("m2m-kill17-").FullName;
        int aBtp = FreePort(), aHttp = FreePort(), bBtp = FreePort(), bHttp = FreePort();
        string aLedger = Path.Combine(dir, "a", "ledger.db"), bLedger = Path.Combine(dir, "b", "ledger.db");
        Directory.CreateDirectory(Path.GetDirectoryName(aLedger)!);
        string aConfig = Config(dir, "a", $"nodeId: a\nilpAddress: test.a\nbtpServerPort: {aBtp}\nhealthCheckPort: {aHttp}\n" +
            $"peers:\n  - id: b\n    url: ws://127.0.0.1:{bBtp}\n    authToken: a-to-b\nroutes:\n  - {{ prefix: test.b, nextHop: b }}\n");
        string bConfig = Config(dir, "b", $"nodeId: b\nilpAddress: test.b\nbtpServerPort: {bBtp}\nhealthCheckPort: {bHttp}\n" +
            $"peers:\n  - id: a\n    authToken: a-to-b\n    maxPacketAmount: 100\n");
        var env = new Dictionary<string, string> { ["ADMIN_API_TOKEN"] = Admin };
        await FundAsync(aLedger);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var b = CliProcess.Start(new Dictionary<string, string>(env) { ["LEDGER_PATH"] = bLedger }, "run", "--config", bConfig);
        var a = CliProcess.Start(new Dictionary<string, string>(env) { ["LEDGER_PATH"] = aLedger }, "run", "--config", aConfig);
        try
        {
            await CliProcess.WaitForHealth($"http://127.0.0.1:{bHttp}/health/ready", b);
            await CliProcess.WaitForHealth($"http://127.0.0.1:{aHttp}/health/ready", a);
            await Json(http, HttpMethod.Post, $"http://127.0.0.1:{aHttp}/admin/accounts", new { id = "alice" });
            await Json(http, HttpMethod.Post, $"http://127.0.0.1:{bHttp}/admin/accounts", new { id = "bob" });
            Assert.Equal((long)Funded, await Balance(http, aHttp, "alice"));

            var started = await Json(http, HttpMethod.Post, $"http://127.0.0.1:{aHttp}/accounts/alice/payments",
                new { receiver = $"http://127.0.0.1:{bHttp}/bob", sourceAmount = Amount.ToString(System.Globalization.CultureInfo.InvariantCulture), clientId = "k1" });
            string url = $"http://127.0.0.1:{aHttp}/accounts/alice/payments/{started.GetProperty("paymentId").GetString()}";
            JsonElement p;
            do
            {
                await Task.Delay(50);
                p = await Json(http, HttpMethod.Get, url);
            }
            while (U(p, "sent") < Amount / 10 && p.GetProperty("state").GetString() == "sending");
            Assert.Equal("sending", p.GetProperty("state").GetString());
            a.Signal(9);
            await a.WaitForExitAsync(TimeSpan.FromSeconds(10));
            a.Dispose();

            a = CliProcess.Start(new Dictionary<string, string>(env) { ["LEDGER_PATH"] = aLedger }, "run", "--config", aConfig);
            await CliProcess.WaitForHealth($"http://127.0.0.1:{aHttp}/health/ready", a);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            do
            {
                await Task.Delay(100);
                p = await Json(http, HttpMethod.Get, url);
            }
            while (p.GetProperty("state").GetString() == "sending" && DateTime.UtcNow < deadline);
            string state = p.GetProperty("state").GetString()!;
            Assert.True(state is "completed" or "failed", p.GetRawText());
            await Task.Delay(TimeSpan.FromSeconds(2)); // reservations of the killed run time out and are voided by the sweeper

            long bob = await Balance(http, bHttp, "bob");
            long aliceSpent = (long)Funded - await Balance(http, aHttp, "alice");
            ulong sent = U(p, "sent");
            // Nothing paid twice: bob got at most the amount, and exactly what alice's record says was sent, plus at
            // most the one packet whose Fulfill reached A in the instant it was killed (RELIABILITY's R01 window).
            Assert.True(bob <= (long)Amount, $"bob received {bob} > {Amount}");
            Assert.InRange(bob - (long)sent, 0, 100);
            Assert.InRange(bob - aliceSpent, 0, 100);
            if (state == "completed") Assert.Equal((long)Amount, (long)sent);
            else Assert.Contains("in flight", p.GetProperty("error").GetString());
            // Each node's books: B's peer a owes exactly bob's credit; A owes b exactly what alice spent.
            Assert.Equal(-bob, await Balance(http, bHttp, "a"));
            Assert.Equal(aliceSpent, await Balance(http, aHttp, "b"));
        }
        finally
        {
            if (!a.HasExited) a.Signal(15);
            b.Signal(15);
            await a.WaitForExitAsync(TimeSpan.FromSeconds(40));
            await b.WaitForExitAsync(TimeSpan.FromSeconds(40));
            a.Dispose();
        }
        foreach (var (ledger, name) in new[] { (aLedger, "a"), (bLedger, "b") })
        {
            var (code, stdout, stderr) = await CliProcess.RunAsync(new Dictionary<string, string> { ["LEDGER_PATH"] = ledger }, "ledger", "verify");
            Assert.True(code == 0, $"ledger verify {name}: {stdout}{stderr}");
        }
    }
}
