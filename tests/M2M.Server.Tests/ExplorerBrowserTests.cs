using System.Text.Json.Nodes;
using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.TestKit;

namespace M2M.Server.Tests;

/// <summary>
/// The Explorer in headless Chromium (Debian chromium + chromium-driver) against a running connector
/// while packets flow: login required, live table over SSE, inspector, balances equal to the ledger's.
/// Screenshots go to docs/explorer/ (M2M_EXPLORER_SCREENSHOTS=1 writes them into the repo).
/// </summary>
[Trait("Tier", "process")]
public class ExplorerBrowserTests
{
    [SkippableFact]
    public async Task Operator_logs_in_sees_live_packets_inspects_one_and_balances_match_the_ledger()
    {
        Skip.IfNot(WebDriverSession.Available, $"needs {WebDriverSession.Browser} and {WebDriverSession.Driver} (apt-get install chromium chromium-driver)");
        await using var host = await TestConnector.StartAsync(ExplorerApiTests.Settings());
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        var explorer = new Uri($"http://127.0.0.1:{host.HealthPort}/explorer");
        string shots = Environment.GetEnvironmentVariable("M2M_EXPLORER_SCREENSHOTS") == "1"
            ? Path.Combine(RepoPaths.Root, "docs", "explorer")
            : Path.Combine(Path.GetTempPath(), "m2m-explorer-shots", Guid.NewGuid().ToString("N"));

        await using var browser = await WebDriverSession.StartAsync();

        // Login is required: the page is the form, and a wrong token keeps it.
        await browser.GoToAsync(explorer);
        await browser.FindAsync("form#login input[name=token]");
        await browser.TypeAsync("#token", "wrong-token-of-some-length");
        await browser.ClickAsync("#signin");
        await browser.WaitForAsync("return !document.getElementById('failed').hidden;", TimeSpan.FromSeconds(10));
        await browser.ScreenshotAsync(Path.Combine(shots, "login.png"));
        await browser.TypeAsync("#token", ExplorerApiTests.ExplorerToken);
        await browser.ClickAsync("#signin");
        await browser.WaitForAsync("return document.getElementById('live').className === 'on';", TimeSpan.FromSeconds(15));

        // Packets sent now arrive in the open page over SSE.
        ulong sent = 0;
        for (int i = 1; i <= 12; i++)
        {
            ulong amount = (ulong)(1000 + i);
            Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.browser", amount)));
            sent += amount;
        }
        bob.OnPrepare = _ => Task.FromResult<IlpReply>(new IlpReject { Code = "F99", TriggeredBy = "g.bob", Message = "closed" });
        var rejected = TestPeer.Payment("g.bob.browser", 77);
        Assert.IsType<IlpReject>(await alice.SendAsync(rejected));
        await browser.WaitForAsync("return document.querySelectorAll('#packets tbody tr').length >= 13;", TimeSpan.FromSeconds(15));
        var amounts = (await browser.RunAsync("return [...document.querySelectorAll('#packets tbody tr td:nth-child(4)')].map(td => td.textContent);"))!.AsArray()
            .Select(n => n!.GetValue<string>()).ToList();
        Assert.Equal(Enumerable.Range(1, 12).Select(i => (1000 + i).ToString()).Append("77").Reverse(), amounts);
        await browser.ScreenshotAsync(Path.Combine(shots, "packets.png"));

        // The inspector shows one packet's fields.
        await browser.ClickAsync("#packets tbody tr.reject");
        var fields = (await browser.WaitForAsync("const d = {}; document.querySelectorAll('#fields dd').forEach(x => d[x.dataset.field] = x.textContent); return Object.keys(d).length ? d : false;",
            TimeSpan.FromSeconds(5)))!.AsObject();
        Assert.Equal("reject", (string?)fields["type"]);
        Assert.Equal("F99", (string?)fields["code"]);
        Assert.Equal("77", (string?)fields["amount"]);
        Assert.Equal("g.bob.browser", (string?)fields["destination"]);
        Assert.Equal(("alice", "bob"), ((string?)fields["peerIn"], (string?)fields["peerOut"]));
        Assert.Equal(Convert.ToHexStringLower(rejected.ExecutionCondition.Span), (string?)fields["packetId"]);
        await browser.ScreenshotAsync(Path.Combine(shots, "inspector.png"));

        // Balances as the page shows them equal the ledger's accounts (what `ledger balances` prints) and what the peers saw.
        await browser.ClickAsync("#tab-balances");
        var shown = (await browser.WaitForAsync(
            "const r = {}; document.querySelectorAll('#balances tbody tr').forEach(tr => r[tr.dataset.id] = tr.cells[2].textContent); return Object.keys(r).length === 2 ? r : false;",
            TimeSpan.FromSeconds(10)))!.AsObject();
        foreach (string peer in new[] { "alice", "bob" })
        {
            var account = (await host.Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId(peer, PeerAccounts.LedgerFor("USD", 9))))!;
            Assert.Equal(account.PostedBalance.ToString(), (string?)shown[peer]);
        }
        Assert.Equal(((Int128)(-(long)sent)).ToString(), (string?)shown["alice"]);
        Assert.Equal(((Int128)sent).ToString(), (string?)shown["bob"]);
        await browser.ScreenshotAsync(Path.Combine(shots, "balances.png"));
        await Books.AssertConsistentAsync(host.Accounting.Ledger);

        // Signing out ends the session: the API answers 401 to the page.
        await browser.ClickAsync("header form button");
        await browser.FindAsync("form#login");
        var status = await browser.RunAsync("const x = new XMLHttpRequest(); x.open('GET', '/api/events', false); x.send(); return x.status;");
        Assert.Equal(401, status!.GetValue<int>());
    }
}
