using M2M.Core.Ilp;
using M2M.Core.Switch;
using M2M.Server.Explorer;
using M2M.Server.Observability;
using M2M.TestKit;

namespace M2M.Server.Tests;

/// <summary>The feed never makes the packet path wait: with the pump not started, the queue fills and the rest is dropped and counted.</summary>
[Trait("Tier", "unit")]
public class ExplorerFeedTests
{
    [Fact]
    public async Task A_full_queue_drops_and_counts_instead_of_blocking()
    {
        var metrics = new ConnectorMetrics();
        var feed = new ExplorerFeed(metrics, new ExplorerStore(Path.Combine(Path.GetTempPath(), "m2m-tests", Guid.NewGuid().ToString("N"), ExplorerStore.FileName), 100_000, TimeSpan.FromDays(1), TimeProvider.System), metrics.Registry, TimeProvider.System);
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
        await feed.DisposeAsync(); // drains what was queued, in batches, then closes the file
        using var reopened = new ExplorerStore(path, 100_000, TimeSpan.FromDays(1), TimeProvider.System);
        Assert.Equal(ExplorerFeed.Capacity, reopened.Count);
    }

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
