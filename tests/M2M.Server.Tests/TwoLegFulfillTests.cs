using System.Text.RegularExpressions;
using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Server.Configuration;
using M2M.TestKit;

namespace M2M.Server.Tests;

/// <summary>
/// Issue 13 defect 2: the sender's session goes away (close, abort, replaced by a new login) while the
/// next hop holds its packets; the next hop then fulfills in time. Before the fix those Fulfills were
/// dropped and both reservations voided (60 of 60 unpaid). Now (RELIABILITY.md, two legs): the outgoing
/// leg is posted, the incoming leg voided, the difference booked to the connector-loss account, counted
/// in connector_unrecoverable_fulfills_total and logged. Real BTP sockets on both sides; books audited.
/// </summary>
[Trait("Tier", "integration")]
public class TwoLegFulfillTests
{
    private const int Packets = 20;
    private const int UnrecoverableEvent = 4010;
    private const int PeerDisconnectedEvent = 3002;
    private static readonly HttpClient Http = new();
    private static readonly uint UsdLedger = PeerAccounts.LedgerFor("USD", 9);

    public static TheoryData<string> Departures => ["close", "abort", "replaced"];

    [Theory]
    [MemberData(nameof(Departures))]
    public async Task In_time_fulfills_are_paid_to_the_next_hop_after_the_sender_leaves(string departure)
    {
        var log = new LogCapture();
        using var loggers = log.Factory();
        var settings = TestConnector.WithTempLedger(TestConnector.TwoPeers()) with { BindAddress = "127.0.0.1", BtpServerPort = 0, HealthCheckPort = 0 };
        await using var host = await ConnectorHost.CreateAsync(settings, loggers);
        await host.StartAsync(CancellationToken.None);
        var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bob.OnPrepare = async p =>
        {
            await release.Task;
            return new IlpFulfill { Fulfillment = p.Data.ToArray() };
        };

        // Alice sends; bob holds every packet until she is gone.
        var amounts = Enumerable.Range(1, Packets).Select(i => (ulong)(100 + i)).ToList();
        var replies = new List<Task<ReadOnlyMemory<byte>>>();
        foreach (ulong amount in amounts) replies.Add(await alice.StartSendAsync(TestPeer.Payment("g.bob.x", amount, expiresInSeconds: 20)));
        await WaitUntil(() => { lock (bob.Received) return bob.Received.Count == Packets; });

        TestPeer? second = null;
        switch (departure)
        {
            case "close": await alice.DisposeAsync(); break;
            case "abort": await alice.AbortAsync(); break;
            case "replaced": second = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret"); break;
        }
        // The sender's view: none of its packets got a Fulfill.
        foreach (var r in replies) await Assert.ThrowsAnyAsync<Exception>(() => r.WaitAsync(TimeSpan.FromSeconds(10)));
        // The connector has seen the old session go (an aborted client reconnects at once, so wait for the log line).
        await WaitUntil(() => log.Messages(PeerDisconnectedEvent).Any() || departure == "replaced");
        release.SetResult();

        ulong sum = amounts.Aggregate(0UL, (a, b) => a + b);
        await WaitUntil(() => log.Messages(UnrecoverableEvent).Count() == Packets);
        var ledger = host.Accounting.Ledger;
        Assert.Equal((Int128)sum, (await ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("bob", UsdLedger)))!.PostedBalance); // bob fulfilled them all: paid
        Assert.Equal(Int128.Zero, (await ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("alice", UsdLedger)))!.PostedBalance); // alice saw no Fulfill: not charged
        Assert.Equal(-(Int128)sum, (await ledger.LookupAccountAsync(PeerAccounts.ConnectorLossAccountId(UsdLedger)))!.PostedBalance);
        Assert.Equal(Int128.Zero, (await ledger.LookupAccountAsync(PeerAccounts.ClearingAccountId(UsdLedger)))!.PostedBalance);
        var report = await Books.AssertConsistentAsync(ledger);
        Assert.Equal(0, report.OpenPending);

        string metrics = await Http.GetStringAsync($"http://127.0.0.1:{host.HealthPort}/metrics");
        Assert.Equal($"{Packets}", MetricValue(metrics, "connector_unrecoverable_fulfills_total{asset=\"USD/9\"}"));
        Assert.Equal($"{sum}", MetricValue(metrics, "connector_unrecoverable_fulfills_amount_total{asset=\"USD/9\"}"));
        Assert.Contains(log.Messages(UnrecoverableEvent), m => m.Contains("paid to bob for a packet from alice", StringComparison.Ordinal));

        if (second is not null) await second.DisposeAsync();
        if (departure != "close") await alice.DisposeAsync();
    }

    private static string? MetricValue(string metrics, string series) =>
        Regex.Match(metrics, "^" + Regex.Escape(series) + " (\\S+)$", RegexOptions.Multiline) is { Success: true } m ? m.Groups[1].Value : null;

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting");
            await Task.Delay(20);
        }
    }
}
