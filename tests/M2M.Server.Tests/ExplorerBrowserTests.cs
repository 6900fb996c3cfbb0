using System.Text.Json.Nodes;
using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Server.Configuration;
using M2M.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace M2M.Server.Tests;

/// <summary>
/// The Explorer in headless Chromium (Debian chromium + chromium-driver) on its own port (EXPLORER_PORT)
/// of a running connector while packets flow: login required, the dashboard's figures, live table over
/// SSE, inspector, balances equal to the ledger's with their history, peers and routes, a settlement, the wallets card.
/// Screenshots go to docs/explorer/ (M2M_EXPLORER_SCREENSHOTS=1 writes them into the repo).
/// </summary>
[Trait("Tier", "process")]
public class ExplorerBrowserTests
{
    [SkippableFact]
    public async Task Operator_logs_in_sees_live_packets_inspects_one_and_balances_match_the_ledger()
    {
        Skip.IfNot(WebDriverSession.Available, $"needs {WebDriverSession.Browser} and {WebDriverSession.Driver} (apt-get install chromium chromium-driver)");
        var (engine, engineUrl) = await LoopbackWeb.StartAsync(app => app.MapPost("/accounts/{id}/settlements", () => Results.Created()));
        await using var _ = engine;
        var settings = ExplorerApiTests.Settings();
        settings = settings with
        {
            Peers =
            [
                new PeerSettings { Id = "alice", AuthToken = "alice-secret", CreditLimit = 1_000_000 },
                // Settled only when asked (POST /settlement/execute), so the balances the test compares stand still.
                new PeerSettings { Id = "bob", AuthToken = "bob-secret", Settlement = new SettlementSettings(Threshold: ulong.MaxValue, SettleTo: 0, SettlementMethodKind.Rfc38, engineUrl) },
            ],
            Explorer = settings.Explorer with { Port = 0, BalanceSampleInterval = TimeSpan.FromMilliseconds(250) },
            Wallet = new WalletSettings { Path = WalletApiClient.NewStore(), Password = "wallet-pw" },
        };
        await using var host = await TestConnector.StartAsync(settings);
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        var explorer = new Uri($"http://127.0.0.1:{host.ExplorerPort}/explorer");
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

        // The dashboard (the first view) shows figures while packets flow: a bounded stream (at most 400 packets or 30 s).
        ulong sent = 0;
        using (var flowing = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            var sender = Task.Run(async () =>
            {
                ulong total = 0;
                for (int i = 0; i < 400 && !flowing.IsCancellationRequested; i++)
                {
                    Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.flow", 1)));
                    total++;
                    await Task.Delay(20);
                }
                return total;
            });
            var figures = (await browser.WaitForAsync(
                "const f = (id) => document.getElementById(id).textContent; return Number(f('fig-rate')) > 0 && Number(f('fig-count')) > 0 && f('fig-success') === '100.00 %' && f('fig-p99') !== '–' "
                + "? { rate: f('fig-rate'), count: f('fig-count'), p99: f('fig-p99'), peers: f('fig-peers') } : false;", TimeSpan.FromSeconds(25)))!.AsObject();
            Assert.Equal("2 / 2", (string?)figures["peers"]);
            Assert.True(double.Parse((string)figures["p99"]!, System.Globalization.CultureInfo.InvariantCulture) > 0);
            await browser.WaitForAsync("return document.querySelectorAll('#limits tbody tr').length === 2 && document.querySelector('#limits tr[data-id=alice] .bar') !== null"
                + " && document.querySelector('#limits tr[data-id=bob] .bar') === null;", TimeSpan.FromSeconds(10));
            await browser.ScreenshotAsync(Path.Combine(shots, "dashboard.png"));
            await flowing.CancelAsync();
            sent += await sender;
        }

        // Packets sent now arrive in the open page over SSE.
        await browser.ClickAsync("#tab-packets");
        for (int i = 1; i <= 12; i++)
        {
            ulong amount = (ulong)(1000 + i);
            Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.browser", amount)));
            sent += amount;
        }
        bob.OnPrepare = _ => Task.FromResult<IlpReply>(new IlpReject { Code = "F99", TriggeredBy = "g.bob", Message = "closed" });
        var rejected = TestPeer.Payment("g.bob.browser", 77);
        Assert.IsType<IlpReject>(await alice.SendAsync(rejected));
        await browser.WaitForAsync("return document.querySelector('#packets tbody tr td:nth-child(4)')?.textContent === '77';", TimeSpan.FromSeconds(15));
        var amounts = (await browser.RunAsync("return [...document.querySelectorAll('#packets tbody tr td:nth-child(4)')].slice(0, 13).map(td => td.textContent);"))!.AsArray()
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
        // Balances over time: a sparkline per peer from the sampled history (every 250 ms here); reopening the view reloads it.
        await browser.WaitForAsync("document.getElementById('tab-balances').click(); return [...document.querySelectorAll('#balances svg.spark')].every(s => Number(s.dataset.samples) >= 2)"
            + " && document.querySelectorAll('#balances svg.spark polyline').length === 2;", TimeSpan.FromSeconds(15));
        await browser.ScreenshotAsync(Path.Combine(shots, "balances.png"));
        await Books.AssertConsistentAsync(host.Accounting.Ledger);

        // Peers and routes: both peers connected, the configured routes in the table.
        await browser.ClickAsync("#tab-peers");
        var routes = (await browser.WaitForAsync(
            "const r = {}; document.querySelectorAll('#routes tbody tr').forEach(tr => r[tr.dataset.id] = tr.cells[1].textContent); return r['g.alice'] && r['g.bob'] ? r : false;",
            TimeSpan.FromSeconds(10)))!.AsObject();
        Assert.Equal(("alice", "bob"), ((string?)routes["g.alice"], (string?)routes["g.bob"]));
        await browser.WaitForAsync("return [...document.querySelectorAll('#peers tbody tr')].map(tr => tr.cells[4].textContent).join() === 'yes,yes';", TimeSpan.FromSeconds(10));
        await browser.ScreenshotAsync(Path.Combine(shots, "peers.png"));

        // A settlement, asked for by the operator: the settlements view shows it confirmed, and its timeline.
        using (var admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{host.HealthPort}") })
        {
            admin.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ExplorerApiTests.Settings().AdminApiToken);
            using var settle = await admin.PostAsync("/settlement/execute", new StringContent("{\"peerId\":\"bob\",\"amount\":\"500\"}", System.Text.Encoding.UTF8, "application/json"));
            Assert.True(settle.IsSuccessStatusCode, await settle.Content.ReadAsStringAsync());
        }
        await browser.ClickAsync("#tab-settlements");
        await browser.WaitForAsync(
            "document.getElementById('tab-settlements').click(); const s = document.querySelector('#settlements tbody tr'); const t = [...document.querySelectorAll('#settlement-events tbody tr')].map(tr => tr.cells[1].textContent);"
            + " return s && s.cells[1].textContent === 'bob' && s.cells[3].textContent === '500' && s.cells[4].textContent === 'confirmed' && t.join() === 'settlement_paid,settlement_requested';",
            TimeSpan.FromSeconds(20));
        await browser.ScreenshotAsync(Path.Combine(shots, "settlements.png"));

        // Agent wallets: two created and one suspended through the admin API appear in the wallets card, list and changes.
        using (var admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{host.HealthPort}") })
        {
            admin.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ExplorerApiTests.Settings().AdminApiToken);
            foreach (string agent in new[] { "shopper-1", "shopper-2" })
            {
                using var created = await admin.PostAsync("/admin/wallets", new StringContent($"{{\"agentId\":\"{agent}\"}}", System.Text.Encoding.UTF8, "application/json"));
                Assert.Equal(System.Net.HttpStatusCode.Created, created.StatusCode);
            }
            using var suspended = await admin.PostAsync("/admin/wallets/shopper-2/suspend", new StringContent("{\"reason\":\"budget spent\"}", System.Text.Encoding.UTF8, "application/json"));
            Assert.True(suspended.IsSuccessStatusCode, await suspended.Content.ReadAsStringAsync());
        }
        await browser.ClickAsync("#tab-wallets");
        var wallets = (await browser.WaitForAsync(
            "document.getElementById('tab-wallets').click(); const f = (id) => document.getElementById(id).textContent;"
            + " const rows = [...document.querySelectorAll('#wallets tbody tr')].map(tr => tr.cells[0].textContent + ':' + tr.cells[1].textContent);"
            + " const changes = [...document.querySelectorAll('#wallet-events tbody tr')].map(tr => tr.cells[1].textContent + ':' + tr.cells[2].textContent);"
            + " return f('fig-wallets-active') === '1' && f('fig-wallets-suspended') === '1' && changes.length === 3 ? { rows, changes, archived: f('fig-wallets-archived') } : false;",
            TimeSpan.FromSeconds(20)))!.AsObject();
        Assert.Equal(["shopper-2:suspended", "shopper-1:active"], wallets["rows"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal(["wallet_suspended:shopper-2", "wallet_created:shopper-2", "wallet_created:shopper-1"], wallets["changes"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal("0", (string?)wallets["archived"]);
        await browser.ScreenshotAsync(Path.Combine(shots, "wallets.png"));

        // Signing out ends the session: the API answers 401 to the page.
        await browser.ClickAsync("header form button");
        await browser.FindAsync("form#login");
        var status = await browser.RunAsync("const x = new XMLHttpRequest(); x.open('GET', '/api/events', false); x.send(); return x.status;");
        Assert.Equal(401, status!.GetValue<int>());
    }
}
