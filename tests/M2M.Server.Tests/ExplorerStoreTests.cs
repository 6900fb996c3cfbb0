using M2M.Server.Explorer;
using Microsoft.Extensions.Time.Testing;

namespace M2M.Server.Tests;

/// <summary>The Explorer's event store (a SQLite file): retention, the max-events cap, paging, and all of it across a reopen.</summary>
[Trait("Tier", "unit")]
public class ExplorerStoreTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    private static ExplorerEvent Packet(DateTimeOffset time, string type = ExplorerEvent.Fulfill, string peerIn = "alice", string amount = "1", string? id = null) =>
        new() { Time = time, Type = type, PeerIn = peerIn, PeerOut = "bob", Amount = amount, PacketId = id ?? Guid.NewGuid().ToString("N") };

    private static string TempPath() => Path.Combine(Path.GetTempPath(), "m2m-tests", Guid.NewGuid().ToString("N"), ExplorerStore.FileName);

    private static ExplorerStore Open(int maxEvents, TimeSpan retention, TimeProvider time, string? path = null) =>
        new(path ?? TempPath(), maxEvents, retention, time);

    [Fact]
    public void The_cap_keeps_only_the_newest_events_in_order()
    {
        var time = new FakeTimeProvider(T0);
        using var store = Open(maxEvents: 5, TimeSpan.FromDays(1), time);
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
        using var store = Open(maxEvents: 100, TimeSpan.FromDays(2), time);
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
        using var store = Open(maxEvents: 1000, TimeSpan.FromDays(1), time);
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
        using var store = Open(maxEvents: 100, TimeSpan.FromDays(1), time);
        for (int i = 0; i < 10; i++) store.Append(Packet(T0.AddMinutes(i), id: $"id{i}", amount: i.ToString()));

        var range = store.Query(new ExplorerQuery { From = T0.AddMinutes(3), To = T0.AddMinutes(6) });
        Assert.Equal(["5", "4", "3"], range.Events.Select(e => e.Amount));
        Assert.Equal(["7"], store.Query(new ExplorerQuery { PacketId = "ID7" }).Events.Select(e => e.Amount));
        Assert.Empty(store.Query(new ExplorerQuery { Peer = "nobody" }).Events);
        Assert.Equal(10, store.Query(new ExplorerQuery { Peer = "bob" }).Events.Count);
    }

    [Fact]
    public void Events_survive_a_reopen_and_pages_continue_across_it_with_the_cap_and_retention_still_held()
    {
        var time = new FakeTimeProvider(T0);
        string path = TempPath();
        var before = new List<ExplorerEvent>();
        using (var store = Open(maxEvents: 50, TimeSpan.FromDays(1), time, path))
        {
            // In batches, as the pump writes them.
            for (int b = 0; b < 6; b++)
                before.AddRange(store.Append(Enumerable.Range(0, 10).Select(i => Packet(T0.AddSeconds(b * 10 + i), amount: (b * 10 + i).ToString())).ToList()));
            Assert.Equal(50, store.Count);
        }
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));

        using var reopened = Open(maxEvents: 50, TimeSpan.FromDays(1), time, path);
        Assert.Equal(50, reopened.Count);
        var first = reopened.Query(new ExplorerQuery { Limit = 20 });
        Assert.Equal(Enumerable.Range(40, 20).Reverse().Select(i => i.ToString()), first.Events.Select(e => e.Amount));
        // New events continue the sequence; the cursor from before the new events still pages the old ones exactly once.
        var added = reopened.Append(Packet(T0.AddSeconds(61), amount: "60"));
        Assert.Equal(before[^1].Seq + 1, added.Seq);
        var seen = new List<string>(first.Events.Select(e => e.Amount!));
        for (long? cursor = first.Next; cursor is not null;)
        {
            var page = reopened.Query(new ExplorerQuery { Limit = 20, Before = cursor });
            seen.AddRange(page.Events.Select(e => e.Amount!));
            cursor = page.Next;
        }
        // The cap took the oldest one (10) when 60 arrived.
        Assert.Equal(Enumerable.Range(11, 49).Reverse().Select(i => i.ToString()), seen);
        Assert.Equal(50, reopened.Count);

        time.Advance(TimeSpan.FromDays(1) + TimeSpan.FromSeconds(30));
        Assert.Equal(Enumerable.Range(30, 31).Reverse().Select(i => i.ToString()), reopened.Query(new ExplorerQuery { Limit = 1000 }).Events.Select(e => e.Amount));
    }

    [Fact]
    public void Every_field_is_kept_and_several_types_can_be_asked_at_once()
    {
        var time = new FakeTimeProvider(T0);
        using var store = Open(100, TimeSpan.FromDays(1), time);
        var settled = new ExplorerEvent
        {
            Time = T0, Type = ExplorerEvent.SettlementPaid, Peer = "bob", Amount = "18446744073709551615", Method = "evm",
            SettlementId = Guid.NewGuid().ToString(), Reference = "evm:0xabc:5", LatencyMs = 12.5,
        };
        store.Append(settled);
        store.Append(new ExplorerEvent { Time = T0, Type = ExplorerEvent.ClaimSent, Peer = "bob", ChannelId = "0x01", Method = "evm", Amount = "5" });
        store.Append(Packet(T0));
        var page = store.Query(new ExplorerQuery { Type = ExplorerEvent.SettlementPaid + "," + ExplorerEvent.ClaimSent });
        Assert.Equal([ExplorerEvent.ClaimSent, ExplorerEvent.SettlementPaid], page.Events.Select(e => e.Type));
        Assert.Equal(settled with { Seq = 1 }, page.Events[1]);
        Assert.Single(store.Query(new ExplorerQuery { Peer = "bob", Type = ExplorerEvent.ClaimSent }).Events);
    }

    [Fact]
    public void Balance_samples_keep_the_newest_per_peer_and_expire_with_the_retention()
    {
        var time = new FakeTimeProvider(T0);
        using var store = Open(100, TimeSpan.FromDays(1), time);
        for (int i = 0; i < 5; i++)
        {
            store.AppendSamples(time.GetUtcNow(), [("alice", (-i).ToString()), ("bob", i.ToString())]);
            time.Advance(TimeSpan.FromHours(6));
        }
        var last3 = store.History("bob", 3);
        Assert.Equal(["2", "3", "4"], last3.Select(s => s.Balance));
        // Now T0 + 30 h: the samples taken at T0 are older than a day, the rest (T0 + 6 h .. T0 + 24 h) are kept.
        Assert.Equal(8, store.History(null, 1000).Count);
        time.Advance(TimeSpan.FromHours(6));
        store.Prune();
        Assert.Equal(["-2", "-3", "-4"], store.History("alice", 1000).Select(s => s.Balance));
    }
}
