using M2M.Core.Ilp;
using M2M.Core.Routing;

namespace M2M.Core.Tests;

[Trait("Tier", "unit")]
public class AddressAndRoutingTests
{
    [Theory]
    [InlineData("g.alice")]
    [InlineData("g.a-b_c~d.0")]
    [InlineData("peer.config")]
    [InlineData("test3.x")]
    [InlineData("private.node.child")]
    public void Valid_addresses(string address) => Assert.True(IlpAddress.IsValid(address));

    [Theory]
    [InlineData("", "empty")]
    [InlineData("g", "no segment")]
    [InlineData("x.alice", "allocation scheme")]
    [InlineData("g..a", "empty segment")]
    [InlineData("g.a.", "empty segment")]
    [InlineData("g.al ice", "not allowed")]
    [InlineData("G.alice", "allocation scheme")]
    public void Invalid_addresses_name_the_reason(string address, string reason) =>
        Assert.Contains(reason, IlpAddress.Validate(address));

    [Fact]
    public void Address_over_1023_characters_is_invalid()
    {
        Assert.True(IlpAddress.IsValid("g." + new string('a', 1021)));
        Assert.False(IlpAddress.IsValid("g." + new string('a', 1022)));
    }

    [Fact]
    public void Longest_prefix_wins_on_segment_boundaries()
    {
        var table = new RoutingTable([new Route("g", "parent"), new Route("g.a", "alice"), new Route("g.a.b", "bob")]);

        Assert.Equal("bob", table.Lookup("g.a.b.c")?.NextHop);
        Assert.Equal("bob", table.Lookup("g.a.b")?.NextHop);
        Assert.Equal("alice", table.Lookup("g.a.bc")?.NextHop);
        Assert.Equal("alice", table.Lookup("g.a")?.NextHop);
        Assert.Equal("parent", table.Lookup("g.ab")?.NextHop);
        Assert.Null(table.Lookup("test.a"));
    }

    [Fact]
    public void Higher_priority_wins_for_the_same_prefix()
    {
        var table = new RoutingTable([new Route("g.x", "low", 1), new Route("g.x", "high", 5), new Route("g.x", "mid", 3)]);
        Assert.Equal("high", table.Lookup("g.x.y")?.NextHop);
    }

    [Fact]
    public void Ten_thousand_routes_resolve_each_to_its_own_peer()
    {
        var routes = Enumerable.Range(0, 10_000).Select(i => new Route($"g.region{i % 100}.peer{i}", $"p{i}")).ToList();
        var table = new RoutingTable(routes);
        for (int i = 0; i < 10_000; i += 7)
        {
            Assert.Equal($"p{i}", table.Lookup($"g.region{i % 100}.peer{i}.agent.x")?.NextHop);
        }
        Assert.Null(table.Lookup("g.region1.peer2"));
    }

    [Theory]
    [InlineData("g", null)]
    [InlineData("g.alice", null)]
    [InlineData("nope", "allocation scheme")]
    [InlineData("", "empty")]
    public void Route_prefixes_may_be_a_bare_scheme(string prefix, string? reason)
    {
        string? result = RoutingTable.ValidatePrefix(prefix);
        if (reason is null) Assert.Null(result);
        else Assert.Contains(reason, result);
    }
}
