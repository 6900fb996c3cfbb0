using System.Collections;
using System.Reflection;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace M2M.Server.Configuration;

/// <summary>
/// Walks the operator's YAML against the shape of <see cref="ConfigFile"/> before it is bound, so
/// every unknown key and every value of the wrong kind is reported at once, each with its line,
/// the key and what is expected there (the binder stops at the first and speaks in type names).
/// The shape comes from the config classes by reflection: a key added there is known here.
/// </summary>
internal static class YamlShapeCheck
{
    /// <summary>Every problem found, as "file:line:column: message"; empty when the shape is right.</summary>
    public static List<string> Check(string text, string path)
    {
        var errors = new List<string>();
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            errors.Add($"{path}:{e.Start.Line}:{e.Start.Column}: {DescribeSyntaxError(e)}");
            return errors;
        }
        if (stream.Documents.Count == 0) return errors;
        var root = stream.Documents[0].RootNode;
        if (root is YamlScalarNode { Value: null or "" or "~" }) return errors;
        Walk(root, typeof(ConfigFile), "the top level", path, errors);
        return errors;
    }

    private static void Walk(YamlNode node, Type type, string where, string path, List<string> errors)
    {
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
        {
            // A map of free keys (rates: code → value): any key, each value a single value.
            if (node is YamlMappingNode free)
            {
                foreach (var (keyNode, value) in free.Children)
                {
                    if (value is not YamlScalarNode)
                        errors.Add($"{At(path, value)}: '{keyNode}' in {where} must be a single value (a number), found {Kind(value)}");
                }
            }
            else if (!IsEmpty(node))
            {
                errors.Add($"{At(path, node)}: {where} must be a section of 'key: value' lines, found {Kind(node)}");
            }
            return;
        }
        if (ListElement(type) is { } element)
        {
            if (node is YamlSequenceNode seq)
            {
                foreach (var item in seq) Walk(item, element, SectionName(element), path, errors);
            }
            else if (!IsEmpty(node))
            {
                errors.Add($"{At(path, node)}: {where} must be a list (one '- ' line per entry), found {Kind(node)}");
            }
            return;
        }
        if (type == typeof(string))
        {
            if (node is not YamlScalarNode)
                errors.Add($"{At(path, node)}: {where} must be a single value, found {Kind(node)}");
            return;
        }
        if (node is not YamlMappingNode map)
        {
            if (!IsEmpty(node))
                errors.Add($"{At(path, node)}: {where} must be a section of 'key: value' lines, found {Kind(node)}");
            return;
        }
        var known = Keys(type);
        foreach (var (keyNode, value) in map.Children)
        {
            string key = keyNode is YamlScalarNode k ? k.Value ?? "" : keyNode.ToString();
            if (!known.TryGetValue(key, out var property))
            {
                errors.Add($"{At(path, keyNode)}: unknown key '{key}' in {SectionName(type)} ({Suggest(key, known.Keys)})");
                continue;
            }
            Walk(value, property.PropertyType, $"'{key}'", path, errors);
        }
    }

    private static Dictionary<string, PropertyInfo> Keys(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite)
            .ToDictionary(p => char.ToLowerInvariant(p.Name[0]) + p.Name[1..], StringComparer.Ordinal);

    private static Type? ListElement(Type type) =>
        type != typeof(string) && type.IsGenericType && typeof(IEnumerable).IsAssignableFrom(type) ? type.GetGenericArguments()[0] : null;

    private static bool IsEmpty(YamlNode node) => node is YamlScalarNode { Value: null or "" or "~" or "null" };

    private static string Kind(YamlNode node) => node switch
    {
        YamlSequenceNode => "a list",
        YamlMappingNode => "a section of keys",
        YamlScalarNode s => $"the value '{Shorten(s.Value ?? "")}'",
        _ => "something else",
    };

    private static string Shorten(string value) => value.Length <= 40 ? value : value[..40] + "…";

    private static string At(string path, YamlNode node) => $"{path}:{node.Start.Line}:{node.Start.Column}";

    /// <summary>The closest known key (a typo is usually one or two edits away), else the whole list.</summary>
    private static string Suggest(string key, IEnumerable<string> known)
    {
        var names = known.Order(StringComparer.Ordinal).ToList();
        var best = names.Select(n => (n, d: Distance(key.ToLowerInvariant(), n.ToLowerInvariant()))).MinBy(x => x.d);
        if (best.n is not null && best.d <= Math.Max(1, key.Length / 3)) return $"did you mean '{best.n}'?";
        return $"expected one of: {string.Join(", ", names)}";
    }

    private static int Distance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }

    /// <summary>The section a config class stands for, in the operator's words.</summary>
    internal static string SectionName(Type type) => type.Name switch
    {
        nameof(ConfigFile) => "the top level",
        nameof(PeerSection) => "a peer",
        nameof(RouteSection) => "a route",
        nameof(AssetSection) => "peers[].asset",
        nameof(SettlementSection) => "peers[].settlement",
        nameof(EvmSection) => "peers[].settlement.evm",
        nameof(LedgerSection) => "ledger",
        nameof(AdminSection) => "admin",
        nameof(LimitsSection) => "limits",
        nameof(WalletSection) => "wallet",
        nameof(PeerLimitsSection) => "peers[].limits",
        nameof(RoutingSection) => "routing",
        nameof(RateSourceSection) => "rateSource",
        var other => other,
    };

    /// <summary>YamlDotNet's parser messages in plain words, with the usual cause.</summary>
    internal static string DescribeSyntaxError(YamlException e)
    {
        string m = (e.InnerException ?? e).Message;
        if (m.Contains("did not find expected key", StringComparison.Ordinal) || m.Contains("did not find expected '-' indicator", StringComparison.Ordinal))
            return "this line is not indented like the lines around it (indent keys of one section by the same number of spaces; tabs are not allowed)";
        if (m.Contains("Mapping values are not allowed in this context", StringComparison.Ordinal))
            return "a value contains ': ' (quote the value, e.g. key: \"a: b\"), or the line is indented deeper than its section";
        if (m.Contains("found character that cannot start any token", StringComparison.Ordinal))
            return "a value starts with a character YAML reserves (such as a tab, '@' or '`'): quote the value";
        if (m.Contains("did not find expected node content", StringComparison.Ordinal))
            return "a key has no value where one is expected (after '- ' or a flow '[' / '{')";
        if (m.Contains("found unexpected end of stream", StringComparison.Ordinal) || m.Contains("while scanning a quoted scalar", StringComparison.Ordinal))
            return "a quoted value is not closed (a \" or ' is missing at its end)";
        if (m.Contains("Duplicate key", StringComparison.OrdinalIgnoreCase))
            return m;
        return $"the file is not valid YAML here: {m}";
    }
}
