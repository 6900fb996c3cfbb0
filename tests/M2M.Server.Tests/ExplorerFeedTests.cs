using M2M.Core.Ilp;
using M2M.Core.Switch;
using M2M.Server.Explorer;
using M2M.Server.Observability;
using M2M.TestKit;

namespace M2M.Server.Tests;

/// <summary>
/// The feed never makes the packet path wait: with the pump not started, the queue fills and the rest is dropped and counted.
/// Above the sample budget, packet events are a sample and the per-second counts exact.
/// </summary>
[Trait("Tier", "unit")]
public class ExplorerFeedTests
{
    [Fact]
    public async Task A_full_queue_drops_and_counts_instead_of_blocking()
    {
        var metrics = new ConnectorMetrics();
        var feed = new ExplorerFeed(metrics, new ExplorerStore(TempPath(), 100_000, TimeSpan.FromDays(1), TimeProvider.System), metrics.Registry, TimeProvider.System);
        var context = new PacketContext(TestPeer.Payment("g.bob.x", 5), new PeerDescriptor("alice", PeerRelation.Peer, "USD", 9, null), DateTimeOffset.UtcNow, CancellationToken.None);
        var reply = new IlpFulfill { Fulfillment = new byte[32] };

        int extra = 500;
        for (int i = 0; i < ExplorerFeed.Capacity + extra; i++) feed.PacketCompleted(context, reply, TimeSpan.FromMilliseconds(1));

        Assert.Equal(extra, feed.Dropped);
        Assert.Equal(1.0, metrics.PacketSuccessRate); // the metrics behind the feed still saw every packet
        using var text = new MemoryStream();
        await metrics.WriteAsync(text, CancellationToken.None);
        Assert.Contains($"explorer_events_dropped_total {extra}", System.Text.Encoding.UTF8.GetString(text.ToArray()));

        feed.Start();
        var store = feed.Store;
        string path = store.Path!;
        await feed.DisposeAsync(); // drains what was queued, then closes the file
        using var reopened = new ExplorerStore(path, 100_000, TimeSpan.FromDays(1), TimeProvider.System);
        // Every queued packet is counted; the events are the second's sample.
        Assert.Equal(ExplorerFeed.Capacity, reopened.Seconds(0, long.MaxValue, null).Sum(s => s.Fulfilled));
        Assert.Equal(ExplorerFeed.PacketEventsPerSecond, reopened.Count);
    }

    /// <summary>
    /// Above the sample budget the stored events are a sample, but the counts (by outcome and pair of peers), the latency histogram
    /// and the dashboard's figures are exact, also after a restart (read back from explorer.db).
    /// </summary>
    [Fact]
    public async Task Above_the_budget_events_are_sampled_but_counts_and_the_dashboard_are_exact_across_a_restart()
    {
        string path = TempPath();
        var metrics = new ConnectorMetrics();
        var feed = new ExplorerFeed(metrics, new ExplorerStore(path, 100_000, TimeSpan.FromDays(1), TimeProvider.System), metrics.Registry, TimeProvider.System);
        var alice = new PeerDescriptor("alice", PeerRelation.Peer, "USD", 9, null);
        var carol = new PeerDescriptor("carol", PeerRelation.Peer, "USD", 9, null);
        var fulfill = new IlpFulfill { Fulfillment = new byte[32] };
        var reject = new IlpReject { Code = "F02", TriggeredBy = "g.us", Message = "unreachable" };
        // Answered within one second (the pump counts by the second a packet was answered in): 1000 packets, every 4th a reject,
        // every 5th from carol, latencies 1..100 ms.
        var at = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        const int N = 1000;
        for (int i = 0; i < N; i++)
        {
            var context = new PacketContext(TestPeer.Payment("g.bob.x", (ulong)i + 1), i % 5 == 0 ? carol : alice, at, CancellationToken.None) { NextHop = "bob" };
            feed.PacketCompleted(context, i % 4 == 0 ? reject : fulfill, TimeSpan.FromMilliseconds(i % 100 + 1));
        }
        feed.Start();
        await feed.DisposeAsync();

        using (var store = new ExplorerStore(path, 100_000, TimeSpan.FromDays(1), TimeProvider.System))
        {
            var seconds = store.Seconds(0, long.MaxValue, null);
            Assert.Equal([("alice", "bob"), ("carol", "bob")], seconds.Select(s => (s.PeerIn, s.PeerOut)));
            Assert.All(seconds, s => Assert.Equal(at.ToUnixTimeSeconds(), s.Second));
            Assert.Equal((N * 3 / 4, N / 4), (seconds.Sum(s => s.Fulfilled), seconds.Sum(s => s.Rejected)));
            Assert.Equal(N / 5, seconds.Single(s => s.PeerIn == "carol").Fulfilled + seconds.Single(s => s.PeerIn == "carol").Rejected);
            Assert.Equal(N, seconds.Sum(s => s.Latency.Sum()));
            // The sample: the first 100 fulfills and the first 100 rejects, in order, with every field.
            var events = store.Query(new ExplorerQuery { Limit = 1000 }).Events;
            Assert.Equal(2 * ExplorerFeed.PacketEventsPerSecond, events.Count);
            Assert.Equal(2 * ExplorerFeed.PacketEventsPerSecond, seconds.Sum(s => s.Stored));
            Assert.Equal(ExplorerFeed.PacketEventsPerSecond, events.Count(e => e.Type == ExplorerEvent.Reject));
            var firstRejects = Enumerable.Range(0, N).Where(i => i % 4 == 0).Take(ExplorerFeed.PacketEventsPerSecond).Select(i => (i + 1).ToString());
            Assert.Equal(firstRejects, events.Where(e => e.Type == ExplorerEvent.Reject).Select(e => e.Amount!).Reverse());
            Assert.All(events.Where(e => e.Type == ExplorerEvent.Reject), e => Assert.Equal(("F02", "unreachable", "g.us", "bob"), (e.Code, e.Message, e.TriggeredBy, e.PeerOut)));
        }

        // The dashboard of a restarted connector: the same exact figures, read back from the file.
        var again = new ExplorerFeed(metrics, new ExplorerStore(path, 100_000, TimeSpan.FromDays(1), TimeProvider.System), new Prometheus.CollectorRegistry(), TimeProvider.System);
        again.Start();
        var figures = again.Stats.Snapshot();
        await again.DisposeAsync();
        if (DateTimeOffset.UtcNow - at >= TimeSpan.FromSeconds(ExplorerStats.WindowSeconds - 1))
            Assert.Fail("the machine took a minute: the second is outside the dashboard's window");
        Assert.Equal(N, figures.PacketsLastMinute);
        Assert.Equal(2 * ExplorerFeed.PacketEventsPerSecond, figures.StoredLastMinute);
        Assert.Equal(0.75, figures.SuccessRate);
        // p99 of 1..100 ms, ten of each: 99 ms, read as its histogram bucket's upper end (at most 9 % above).
        Assert.InRange(figures.P99LatencyMs!.Value, 99, 99 * 1.091);
    }

    [Fact]
    public void The_latency_histogram_reads_quantiles_within_nine_percent_and_round_trips()
    {
        var counts = new int[LatencyHistogram.Buckets];
        for (int us = 1; us <= 1_000_000; us += 7) counts[LatencyHistogram.Bucket(TimeSpan.FromMicroseconds(us))]++;
        foreach (double q in new[] { 0.5, 0.9, 0.99 })
            Assert.InRange(LatencyHistogram.Quantile(counts, q)!.Value, q * 1000, q * 1000 * 1.091);
        var back = new int[LatencyHistogram.Buckets];
        LatencyHistogram.Decode(LatencyHistogram.Encode(counts), back);
        Assert.Equal(counts, back);
        Assert.Null(LatencyHistogram.Quantile(new int[LatencyHistogram.Buckets], 0.99));
        Assert.Equal(LatencyHistogram.Buckets - 1, LatencyHistogram.Bucket(TimeSpan.FromDays(1)));
    }

    private static string TempPath() => Path.Combine(Path.GetTempPath(), "m2m-tests", Guid.NewGuid().ToString("N"), ExplorerStore.FileName);

    [Fact]
    public void A_table_swap_becomes_one_event_per_prefix_added_changed_or_removed()
    {
        var old = new M2M.Core.Routing.RoutingTable([new("g.alice", "alice"), new("g.bob", "bob"), new("g.carol", "bob")]);
        var now = new M2M.Core.Routing.RoutingTable([new("g.alice", "alice"), new("g.bob", "carol"), new("g.dave", "dave")]);
        var events = ExplorerFeed.RouteChanges(DateTimeOffset.UnixEpoch, old, now).ToList();
        Assert.Equal(
            [(ExplorerEvent.RouteChanged, "g.bob", "carol"), (ExplorerEvent.RouteAdded, "g.dave", "dave"), (ExplorerEvent.RouteRemoved, "g.carol", "bob")],
            events.Select(e => (e.Type, e.Prefix!, e.Peer!)));
        Assert.Equal("was via bob (priority 0)", events[0].Message);
    }
}
