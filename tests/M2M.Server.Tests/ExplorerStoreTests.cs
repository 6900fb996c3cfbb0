using M2M.Server.Explorer;
using Microsoft.Extensions.Time.Testing;

namespace M2M.Server.Tests;

/// <summary>The Explorer's event store: retention, the max-events cap and paging.</summary>
[Trait("Tier", "unit")]
public class ExplorerStoreTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    private static ExplorerEvent Packet(DateTimeOffset time, string type = ExplorerEvent.Fulfill, string peerIn = "alice", string amount = "1", string? id = null) =>
        new() { Time = time, Type = type, PeerIn = peerIn, PeerOut = "bob", Amount = amount, PacketId = id ?? Guid.NewGuid().ToString("N") };

    [Fact]
    public void The_cap_keeps_only_the_newest_events_in_order()
    {
        var time = new FakeTimeProvider(T0);
        var store = new ExplorerStore(maxEvents: 5, TimeSpan.FromDays(1), time);
        for (int i = 1; i <= 12; i++) store.Append(Packet(T0, amount: i.ToString()));

        Assert.Equal(5, store.Count);
        var page = store.Query(new ExplorerQuery { Limit = 100 });
        Assert.Equal(["12", "11", "10", "9", "8"], page.Events.Select(e => e.Amount));
        Assert.Equal([12L, 11, 10, 9, 8], page.Events.Select(e => e.Seq));
        Assert.Null(page.Next);
    }

    [Fact]
    public void Events_older_than_the_retention_are_gone_even_without_new_events()
    {
        var time = new FakeTimeProvider(T0);
        var store = new ExplorerStore(maxEvents: 100, TimeSpan.FromDays(2), time);
        store.Append(Packet(T0, amount: "old"));
        time.Advance(TimeSpan.FromDays(1));
        store.Append(Packet(time.GetUtcNow(), amount: "middle"));
        time.Advance(TimeSpan.FromDays(1) + TimeSpan.FromSeconds(1));

        Assert.Equal(["middle"], store.Query(new ExplorerQuery()).Events.Select(e => e.Amount));
        time.Advance(TimeSpan.FromDays(1));
        Assert.Equal(0, store.Count);
        Assert.Empty(store.Query(new ExplorerQuery()).Events);
        // Sequence numbers keep growing across expiry: a cursor never points at a different event.
        Assert.Equal(3, store.Append(Packet(time.GetUtcNow())).Seq);
    }

    [Fact]
    public void Pages_walk_every_matching_event_once_newest_first()
    {
        var time = new FakeTimeProvider(T0);
        var store = new ExplorerStore(maxEvents: 1000, TimeSpan.FromDays(1), time);
        for (int i = 0; i < 95; i++)
            store.Append(Packet(T0.AddSeconds(i), type: i % 3 == 0 ? ExplorerEvent.Reject : ExplorerEvent.Fulfill, peerIn: i % 2 == 0 ? "alice" : "carol", amount: i.ToString()));

        var seen = new List<string>();
        long? cursor = null;
        int pages = 0;
        do
        {
            var page = store.Query(new ExplorerQuery { Type = ExplorerEvent.Fulfill, Peer = "alice", Limit = 7, Before = cursor });
            Assert.True(page.Events.Count <= 7);
            seen.AddRange(page.Events.Select(e => e.Amount!));
            cursor = page.Next;
            pages++;
        }
        while (cursor is not null);

        var expected = Enumerable.Range(0, 95).Where(i => i % 3 != 0 && i % 2 == 0).Reverse().Select(i => i.ToString()).ToList();
        Assert.Equal(expected, seen);
        Assert.Equal((expected.Count + 6) / 7, pages);
    }

    [Fact]
    public void Time_range_and_packet_id_filters_select_exactly_their_events()
    {
        var time = new FakeTimeProvider(T0.AddHours(1));
        var store = new ExplorerStore(maxEvents: 100, TimeSpan.FromDays(1), time);
        for (int i = 0; i < 10; i++) store.Append(Packet(T0.AddMinutes(i), id: $"id{i}", amount: i.ToString()));

        var range = store.Query(new ExplorerQuery { From = T0.AddMinutes(3), To = T0.AddMinutes(6) });
        Assert.Equal(["5", "4", "3"], range.Events.Select(e => e.Amount));
        Assert.Equal(["7"], store.Query(new ExplorerQuery { PacketId = "ID7" }).Events.Select(e => e.Amount));
        Assert.Empty(store.Query(new ExplorerQuery { Peer = "nobody" }).Events);
        Assert.Equal(10, store.Query(new ExplorerQuery { Peer = "bob" }).Events.Count);
    }
}
