using System.Net;
using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Core.Switch;
using M2M.Server.Configuration;
using M2M.Server.Exchange;
using M2M.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace M2M.Server.Tests;

/// <summary>
/// Exchange rates at the host: the YAML keys (typed, every bad value one line), the HTTP rate source
/// against a real server on 127.0.0.1 (garbage, HTTP 500, a stall: one log line per change of state, the
/// last good rates kept, stale past maxAge), and a connector converting USD/2 → XRP/6 with fetched
/// rates, then answering T00 once they are stale.
/// </summary>
[Trait("Tier", "integration")]
public sealed class ExchangeRateTests : IAsyncDisposable, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("m2m-rates-").FullName;
    private readonly List<IAsyncDisposable> _disposables = [];

    /// <summary>What the stand-in rate source answers: a status and a body, or a stall.</summary>
    private volatile string _mode = "good";
    private volatile string _goodBody = """{"base": "USD", "rates": {"XRP": 0.5, "EUR": "1.25"}}""";

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public async ValueTask DisposeAsync()
    {
        for (int i = _disposables.Count - 1; i >= 0; i--) await _disposables[i].DisposeAsync();
    }

    private ConnectorSettings Load(string yaml, out IReadOnlyList<string> warnings)
    {
        string path = Path.Combine(_dir, $"c{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, yaml);
        var loader = new ConfigLoader(_ => null);
        var settings = loader.Load(path);
        warnings = loader.Warnings;
        return settings;
    }

    private IReadOnlyList<string> Errors(string yaml)
    {
        string path = Path.Combine(_dir, $"c{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, yaml);
        return Assert.Throws<ConfigException>(() => new ConfigLoader(_ => null).Load(path)).Errors;
    }

    [Fact]
    public void Rates_spread_and_rate_source_are_read_into_typed_settings()
    {
        var s = Load("""
            nodeId: n
            rates: {USD: 1, XRP: 0.5, BTC: 6.5e4}
            spread: 0.002
            rateSource: {url: 'https://rates.example/latest', intervalSeconds: 30, maxAgeSeconds: 300, timeoutSeconds: 5}
            peers:
              - {id: a, authToken: t, asset: {code: USD, scale: 2}}
              - {id: b, authToken: t, asset: {code: XRP, scale: 6}}
            """, out var warnings);

        Assert.Equal(new Dictionary<string, decimal> { ["USD"] = 1m, ["XRP"] = 0.5m, ["BTC"] = 65_000m }, s.Exchange.Rates);
        Assert.Equal(0.002m, s.Exchange.Spread);
        Assert.Equal(new RateSourceSettings(new Uri("https://rates.example/latest"), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(300), TimeSpan.FromSeconds(5)), s.Exchange.Source);
        Assert.Empty(warnings);
        Assert.False(Load("nodeId: n\n", out _).Exchange.Enabled);
    }

    [Fact]
    public void Every_bad_exchange_value_is_one_line_naming_the_key()
    {
        var errors = Errors("""
            nodeId: n
            rates: {USD: 1, XRP: 0, EUR: abc, 'US D': 2}
            spread: 1.5
            rateSource: {url: 'ftp://rates.example/', intervalSeconds: 60, maxAgeSeconds: 30}
            """);

        Assert.Contains(errors, e => e.StartsWith("rates.XRP: '0' is invalid; expected a positive number", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("rates.EUR: 'abc' is invalid", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("rates.US D: 'US D' is invalid; expected an asset code", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("spread: '1.5' is invalid; expected a fraction from 0 to below 1", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("rateSource.url: 'ftp://rates.example/' is invalid; expected an http:// or https:// URL", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("rateSource.maxAgeSeconds: '30' is invalid; expected more than rateSource.intervalSeconds (60)", StringComparison.Ordinal));
        Assert.All(errors, e => Assert.DoesNotContain('\n', e));
    }

    [Fact]
    public void The_shape_check_knows_the_exchange_keys()
    {
        var errors = Errors("nodeId: n\nrates:\n  - USD\nrateSource:\n  url: 'http://127.0.0.1:1/'\n  intervalSecond: 5\n");
        string all = string.Join("\n", errors);
        Assert.True(errors.Any(e => e.Contains(":3:", StringComparison.Ordinal) && e.Contains("'rates' must be a section of 'key: value' lines", StringComparison.Ordinal)), all);
        Assert.True(errors.Any(e => e.Contains("unknown key 'intervalSecond' in rateSource (did you mean 'intervalSeconds'?)", StringComparison.Ordinal)), all);
        var nested = Errors("nodeId: n\nrates:\n  USD: {a: 1}\n");
        Assert.True(nested.Any(e => e.Contains("'USD' in 'rates' must be a single value", StringComparison.Ordinal)), string.Join("\n", nested));
    }

    [Fact]
    public void A_peer_asset_without_a_rate_is_warned_about()
    {
        Load("nodeId: n\nrates: {USD: 1}\npeers:\n  - {id: a, authToken: t, asset: {code: USD, scale: 2}}\n  - {id: b, authToken: t, asset: {code: XRP, scale: 6}}\n", out var warnings);
        Assert.Contains(warnings, w => w.Contains("rates has no rate for XRP (peers b)", StringComparison.Ordinal));
        Load("nodeId: n\npeers:\n  - {id: a, authToken: t, asset: {code: USD, scale: 2}}\n  - {id: b, authToken: t, asset: {code: XRP, scale: 6}}\n", out var none);
        Assert.Contains(none, w => w.Contains("no rates are configured", StringComparison.Ordinal));
    }

    /// <summary>A real HTTP server on 127.0.0.1 that answers by <see cref="_mode"/>.</summary>
    private async Task<Uri> StartRateSourceAsync()
    {
        var (app, baseUrl) = await LoopbackWeb.StartAsync(app => app.MapGet("/rates", async (HttpContext http) =>
        {
            switch (_mode)
            {
                case "500":
                    http.Response.StatusCode = 500;
                    await http.Response.WriteAsync("boom");
                    break;
                case "garbage":
                    await http.Response.WriteAsync("<html>not rates</html>");
                    break;
                case "negative":
                    await http.Response.WriteAsync("""{"base": "USD", "rates": {"XRP": -1}}""");
                    break;
                case "stall":
                    await Task.Delay(TimeSpan.FromSeconds(30), http.RequestAborted);
                    break;
                default:
                    http.Response.ContentType = "application/json";
                    await http.Response.WriteAsync(_goodBody);
                    break;
            }
        }));
        _disposables.Add(app);
        return new Uri(baseUrl, "rates");
    }

    [Fact]
    public async Task Garbage_500_and_a_stall_keep_the_last_good_rates_with_one_log_line_per_change_then_stale()
    {
        var url = await StartRateSourceAsync();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var logs = new LogCapture();
        using var factory = logs.Factory();
        var rates = new ExchangeRates(0m, TimeSpan.FromSeconds(120), time, null);
        // A 5 s timeout: the first poll is this process's first HTTP request to a server that just started, and on a
        // loaded CI machine (Debug build, cold JIT) it outlasted a 1 s timeout. Only the stall case waits it out.
        var poller = new RateSourcePoller(new RateSourceSettings(url, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(120), TimeSpan.FromSeconds(5)), rates, time, factory.CreateLogger("test"));
        _disposables.Add(poller);

        Assert.True(await poller.PollOnceAsync(CancellationToken.None), poller.LastFailure);
        var good = rates.Current!;
        Assert.Equal(new Dictionary<string, decimal> { ["XRP"] = 0.5m, ["EUR"] = 1.25m, ["USD"] = 1m }, good.Values);

        foreach (var (mode, reason) in new[] { ("500", "HTTP 500"), ("garbage", "not JSON"), ("negative", "not a positive number"), ("stall", "no answer within 5 s") })
        {
            _mode = mode;
            time.Advance(TimeSpan.FromSeconds(10));
            var started = DateTime.UtcNow;
            Assert.False(await poller.PollOnceAsync(CancellationToken.None));
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(20), $"{mode}: the poll must end at its timeout");
            Assert.Contains(reason, poller.LastFailure, StringComparison.Ordinal);
            Assert.Same(good, rates.Current); // the last good rates are kept
        }
        Assert.Equal(QuoteProblem.None, rates.Quote("USD", 2, "XRP", 6).Problem);

        var warnings = logs.Lines.Where(l => l.Level >= LogLevel.Warning).ToList();
        Assert.Single(warnings); // one line for answering → failing, not one per failed poll
        Assert.Equal(3121, warnings[0].EventId);
        Assert.Contains("HTTP 500", warnings[0].Message, StringComparison.Ordinal);
        Assert.Contains("keeping the last good rates (10 s old", warnings[0].Message, StringComparison.Ordinal);
        Assert.Equal(3, logs.Lines.Count(l => l.EventId == 3122)); // the later failures at debug level, each with its reason

        _mode = "500";
        time.Advance(TimeSpan.FromSeconds(100)); // 140 s since the last good answer
        Assert.False(await poller.PollOnceAsync(CancellationToken.None));
        Assert.False(await poller.PollOnceAsync(CancellationToken.None));
        var stale = Assert.Single(logs.Lines, l => l.EventId == 3123);
        Assert.Equal(LogLevel.Error, stale.Level);
        Assert.Contains("past rateSource.maxAgeSeconds (120 s): packets that need a conversion get T00", stale.Message, StringComparison.Ordinal);
        Assert.Equal(QuoteProblem.Stale, rates.Quote("USD", 2, "XRP", 6).Problem);

        _mode = "good";
        Assert.True(await poller.PollOnceAsync(CancellationToken.None), poller.LastFailure);
        Assert.Contains(logs.Lines, l => l.EventId == 3120 && l.Message.Contains("answering again", StringComparison.Ordinal));
        Assert.Equal(QuoteProblem.None, rates.Quote("USD", 2, "XRP", 6).Problem);
        Assert.DoesNotContain(logs.Lines, l => l.Message.Contains("   at ", StringComparison.Ordinal)); // no stack traces
    }

    [Fact]
    public async Task A_connector_converts_with_fetched_rates_and_answers_T00_once_they_are_stale()
    {
        var url = await StartRateSourceAsync();
        var logs = new LogCapture();
        var settings = TestConnector.WithTempLedger(new ConnectorSettings
        {
            BindAddress = "127.0.0.1",
            BtpServerPort = 0,
            HealthCheckPort = 0,
            NodeId = "conn",
            IlpAddress = "g.conn",
            Peers =
            [
                new PeerSettings { Id = "alice", AuthToken = "alice-secret", AssetCode = "USD", AssetScale = 2 },
                new PeerSettings { Id = "bob", AuthToken = "bob-secret", AssetCode = "XRP", AssetScale = 6 },
            ],
            Routes = [new("g.alice", "alice"), new("g.bob", "bob")],
            Exchange = new ExchangeSettings { Spread = 0.002m, Source = new RateSourceSettings(url, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(1)) },
        });
        var host = await ConnectorHost.CreateAsync(settings, logs.Factory());
        _disposables.Add(host);
        await host.StartAsync(CancellationToken.None);
        var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        _disposables.Add(alice);
        _disposables.Add(bob);
        await WaitUntilAsync(() => host.Peers.IsConnected("alice") && host.Peers.IsConnected("bob") && host.Exchange!.Current is not null, "peers connected and rates fetched");

        var reply = await alice.SendAsync(TestPeer.Payment("g.bob.wallet", amount: 250));
        Assert.IsType<IlpFulfill>(reply);
        Assert.Equal(4_990_000UL, Assert.Single(bob.Received).Amount); // 2.50 USD → 5 XRP less 0.2 %

        // A slow first poll on a loaded machine may already have logged "no rates yet": wait for a new stale line.
        int staleLines = logs.Lines.Count(l => l.EventId == 3123);
        _mode = "500";
        await WaitUntilAsync(() => logs.Lines.Count(l => l.EventId == 3123) > staleLines, "the stale line", seconds: 20);
        var stale = Assert.IsType<IlpReject>(await alice.SendAsync(TestPeer.Payment("g.bob.wallet", amount: 250)));
        Assert.Equal("T00", stale.Code);
        Assert.Contains("exchange rates are stale", stale.Message, StringComparison.Ordinal);
        Assert.Single(bob.Received);

        var aliceAccount = (await host.Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("alice", PeerAccounts.LedgerFor("USD", 2))))!;
        var bobAccount = (await host.Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("bob", PeerAccounts.LedgerFor("XRP", 6))))!;
        Assert.Equal((UInt128)250, aliceAccount.DebitsPosted);
        Assert.Equal((UInt128)4_990_000, bobAccount.CreditsPosted);
        Assert.Equal(((UInt128)0, (UInt128)0), (aliceAccount.DebitsPending, bobAccount.CreditsPending));

        using var http = new HttpClient();
        string metrics = await http.GetStringAsync($"http://127.0.0.1:{host.HealthPort}/metrics");
        Assert.Contains("account_balance_units{peer_id=\"bob\",token_id=\"XRP/6\",asset_code=\"XRP\",asset_scale=\"6\"} 4990000", metrics, StringComparison.Ordinal);
        Assert.Contains("account_balance_units{peer_id=\"alice\",token_id=\"USD/2\",asset_code=\"USD\",asset_scale=\"2\"} -250", metrics, StringComparison.Ordinal);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what, double seconds = 15)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not met within {seconds} s: {what}");
            await Task.Delay(20);
        }
    }
}
