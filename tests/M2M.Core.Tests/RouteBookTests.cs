using M2M.Core.Routing;
using M2M.Core.Switch;

namespace M2M.Core.Tests;

/// <summary>Route selection, loop prevention, split horizon, epochs and expiry of the CCP routing brain.</summary>
[Trait("Tier", "unit")]
public class RouteBookTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static RouteBook Book()
    {
        var book = new RouteBook("me", "g.me");
        book.SetPeer(new RoutingPeer("up", PeerRelation.Parent, true, true));
        book.SetPeer(new RoutingPeer("p1", PeerRelation.Peer, true, true));
        book.SetPeer(new RoutingPeer("p2", PeerRelation.Peer, true, true));
        book.SetPeer(new RoutingPeer("kid", PeerRelation.Child, true, true));
        foreach (var id in new[] { "up", "p1", "p2", "kid" }) book.PeerConnected(id);
        return book;
    }

    private static CcpRouteUpdate Update(Guid table, uint from, uint to, CcpRoute[] routes, string[]? withdrawn = null) =>
        new(table, to, from, to, 30_000, "g.x", routes, withdrawn ?? []);

    private static CcpRoute R(string prefix, params string[] path) => new(prefix, path, new byte[32], []);

    [Fact]
    public void Selection_prefers_configured_then_child_then_peer_then_parent_then_shorter_path_then_lower_id()
    {
        var book = Book();
        book.HandleUpdate("up", Update(Guid.NewGuid(), 0, 1, [R("g.dst", "g.up")]), Now);
        Assert.Equal("up", book.BuildTable().Lookup("g.dst.a")?.NextHop);
        book.HandleUpdate("p2", Update(Guid.NewGuid(), 0, 1, [R("g.dst", "g.p2", "g.q", "g.r")]), Now);
        Assert.Equal("p2", book.BuildTable().Lookup("g.dst.a")?.NextHop);
        book.HandleUpdate("p1", Update(Guid.NewGuid(), 0, 1, [R("g.dst", "g.p1", "g.q", "g.r")]), Now);
        Assert.Equal("p1", book.BuildTable().Lookup("g.dst.a")?.NextHop); // same length: lower id
        book.HandleUpdate("p2", Update(book.ReceiverStatus("p2")!.Value.TableId, 1, 2, [R("g.dst", "g.p2")]), Now);
        Assert.Equal("p2", book.BuildTable().Lookup("g.dst.a")?.NextHop); // shorter path
        book.HandleUpdate("kid", Update(Guid.NewGuid(), 0, 1, [R("g.dst", "g.kid", "g.a", "g.b", "g.c")]), Now);
        Assert.Equal("kid", book.BuildTable().Lookup("g.dst.a")?.NextHop);
        book.SetConfiguredRoutes([new Route("g.dst", "up")]);
        Assert.Equal("up", book.BuildTable().Lookup("g.dst.a")?.NextHop);
        Assert.Equal(RouteOrigin.Configured, book.LocalRoutes.Single(r => r.Prefix == "g.dst").Origin);
    }

    [Fact]
    public void Local_routes_our_address_children_and_the_default_route_to_the_parent()
    {
        var table = Book().BuildTable();
        Assert.Equal("me", table.Lookup("g.me.unknown")?.NextHop);
        Assert.Equal("kid", table.Lookup("g.me.kid.wallet")?.NextHop);
        Assert.Equal("up", table.Lookup("g.elsewhere")?.NextHop);
    }

    [Fact]
    public void A_route_through_us_is_dropped_and_reported()
    {
        var book = Book();
        var dropped = new List<string>();
        var outcome = book.HandleUpdate("p1", Update(Guid.NewGuid(), 0, 1, [R("g.loop", "g.p1", "g.me", "g.z"), R("g.fine", "g.p1")]), Now, dropped.Add);
        Assert.True(outcome.Accepted);
        Assert.Equal("up", book.BuildTable().Lookup("g.loop.a")?.NextHop); // only the default route to the parent
        Assert.Equal("p1", book.BuildTable().Lookup("g.fine.a")?.NextHop);
        Assert.Contains(dropped, d => d.Contains("g.loop loops"));
    }

    [Fact]
    public void Updates_advertise_our_path_withdraw_routes_through_the_receiver_and_tell_a_parent_only_our_own()
    {
        var book = Book();
        book.HandleUpdate("p1", Update(Guid.NewGuid(), 0, 1, [R("g.p1net", "g.p1")]), Now);
        book.HandleUpdate("kid", Update(Guid.NewGuid(), 0, 1, [R("g.kidnet", "g.kid")]), Now);
        foreach (var id in new[] { "p1", "p2", "up" }) book.HandleControl(id, new CcpRouteControl(CcpMode.Sync, Guid.Empty, 0, []));

        var toP2 = book.UpdateFor("p2", Now, TimeSpan.FromSeconds(30), 45_000)!;
        Assert.Equal(book.TableId, toP2.RoutingTableId);
        Assert.Equal("g.me", toP2.Speaker);
        var p1net = Assert.Single(toP2.NewRoutes, r => r.Prefix == "g.p1net");
        Assert.Equal(["g.me", "g.p1"], p1net.Path);
        Assert.Contains(toP2.NewRoutes, r => r.Prefix == "g.me" && r.Path.SequenceEqual(["g.me"]));
        Assert.DoesNotContain(toP2.NewRoutes, r => r.Prefix == "g.me.kid" || r.Prefix == "g"); // under our address / the default route

        var toP1 = book.UpdateFor("p1", Now, TimeSpan.FromSeconds(30), 45_000)!;
        Assert.Contains("g.p1net", toP1.WithdrawnRoutes); // split horizon
        var toUp = book.UpdateFor("up", Now, TimeSpan.FromSeconds(30), 45_000)!;
        Assert.Contains("g.p1net", toUp.WithdrawnRoutes); // a parent hears no peer routes
        Assert.Contains(toUp.NewRoutes, r => r.Prefix == "g.kidnet");

        // Once sent, nothing new until the heartbeat is due; then an empty update at the same epoch.
        book.UpdateSent("p2", toP2, Now);
        Assert.Null(book.UpdateFor("p2", Now.AddSeconds(1), TimeSpan.FromSeconds(30), 45_000));
        var heartbeat = book.UpdateFor("p2", Now.AddSeconds(31), TimeSpan.FromSeconds(30), 45_000)!;
        Assert.Empty(heartbeat.NewRoutes);
        Assert.Equal(heartbeat.ToEpoch, heartbeat.FromEpoch);
    }

    [Fact]
    public void Epoch_gaps_ask_for_a_resync_and_silence_past_the_hold_down_time_expires_routes()
    {
        var book = Book();
        var table = Guid.NewGuid();
        Assert.True(book.HandleUpdate("p1", Update(table, 5, 9, [R("g.p1net", "g.p1")]), Now).Gap);
        Assert.Equal("up", book.BuildTable().Lookup("g.p1net.a")?.NextHop); // only the default route to the parent
        Assert.False(book.HandleUpdate("p1", Update(table, 0, 3, [R("g.p1net", "g.p1")]), Now).Gap);
        Assert.Equal("p1", book.BuildTable().Lookup("g.p1net.a")?.NextHop);
        Assert.Equal(new CcpRouteControl(CcpMode.Sync, table, 3, []).LastKnownEpoch, book.ControlFor("p1")!.LastKnownEpoch);

        Assert.False(book.ExpireRoutes(Now.AddSeconds(29)));
        var expired = new List<string>();
        Assert.True(book.ExpireRoutes(Now.AddSeconds(31), (peer, _) => expired.Add(peer)));
        Assert.Equal(["p1"], expired);
        Assert.Equal("up", book.BuildTable().Lookup("g.p1net.a")?.NextHop); // only the default route to the parent
    }

    [Fact]
    public void Disconnect_withdraws_and_logs_the_withdrawal_for_our_peers()
    {
        var book = Book();
        book.HandleUpdate("p1", Update(Guid.NewGuid(), 0, 1, [R("g.p1net", "g.p1")]), Now);
        book.HandleControl("p2", new CcpRouteControl(CcpMode.Sync, Guid.Empty, 0, []));
        book.UpdateSent("p2", book.UpdateFor("p2", Now, TimeSpan.FromSeconds(30), 45_000)!, Now);

        book.PeerDisconnected("p1");

        Assert.Equal("up", book.BuildTable().Lookup("g.p1net.a")?.NextHop); // only the default route to the parent
        var next = book.UpdateFor("p2", Now, TimeSpan.FromSeconds(30), 45_000)!;
        Assert.Equal(["g.p1net"], next.WithdrawnRoutes);
    }
}
