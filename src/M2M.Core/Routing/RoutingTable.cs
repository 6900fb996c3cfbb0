using System.Collections.Frozen;
using M2M.Core.Ilp;

namespace M2M.Core.Routing;

/// <summary>A static route: packets whose destination starts with <see cref="Prefix"/> go to <see cref="NextHop"/>.</summary>
public sealed record Route(string Prefix, string NextHop, int Priority = 0);

/// <summary>
/// Longest-prefix routing on ILP address segments: "g.a" matches "g.a" and "g.a.b", not "g.ab".
/// Lookup walks the destination's own prefixes (at most one probe per segment) through a frozen
/// dictionary's span lookup, so it does not allocate and does not depend on the number of routes.
/// Among routes with the same prefix the highest priority wins (then the first configured).
/// The table is immutable; a new one is swapped in when routes change.
/// </summary>
public sealed class RoutingTable
{
    private readonly FrozenDictionary<string, Route> _routes;
    private readonly FrozenDictionary<string, Route>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public RoutingTable(IEnumerable<Route> routes)
    {
        var best = new Dictionary<string, Route>(StringComparer.Ordinal);
        foreach (var route in routes)
        {
            if (!best.TryGetValue(route.Prefix, out var existing) || route.Priority > existing.Priority)
                best[route.Prefix] = route;
        }
        _routes = best.ToFrozenDictionary(StringComparer.Ordinal);
        _lookup = _routes.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int Count => _routes.Count;

    public IEnumerable<Route> Routes => _routes.Values;

    /// <summary>The route with the longest prefix covering <paramref name="destination"/>, or null.</summary>
    public Route? Lookup(ReadOnlySpan<char> destination)
    {
        var candidate = destination;
        while (true)
        {
            if (_lookup.TryGetValue(candidate, out var route)) return route;
            int dot = candidate.LastIndexOf('.');
            if (dot <= 0) return null;
            candidate = candidate[..dot];
        }
    }

    /// <summary>Validates a prefix: an ILP address, or an allocation scheme alone (e.g. "g").</summary>
    public static string? ValidatePrefix(string prefix)
    {
        if (prefix.Length > 0 && !prefix.Contains('.') && IlpAddress.IsValid(prefix + ".x")) return null;
        return IlpAddress.Validate(prefix);
    }
}
