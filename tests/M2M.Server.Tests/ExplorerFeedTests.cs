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
        var feed = new ExplorerFeed(metrics, new ExplorerStore(100_000, TimeSpan.FromDays(1), TimeProvider.System), metrics.Registry, TimeProvider.System);
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
        await feed.DisposeAsync(); // drains what was queued
        Assert.Equal(ExplorerFeed.Capacity, feed.Store.Count);
    }
}
