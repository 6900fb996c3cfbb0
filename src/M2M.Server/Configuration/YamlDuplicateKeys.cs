using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace M2M.Server.Configuration;

/// <summary>
/// Duplicate keys in one YAML mapping: YamlDotNet keeps the last one silently, so an operator who pastes a
/// second `creditLimit:` under a peer gets whichever came last. Each is reported with both lines.
/// </summary>
internal static class YamlDuplicateKeys
{
    private sealed class Frame(bool isMapping)
    {
        public bool IsMapping { get; } = isMapping;
        public bool ExpectingKey { get; set; } = isMapping;
        public Dictionary<string, long> Keys { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>"path:line:column: duplicate key 'k' (first at line n)" for each duplicate, in file order.</summary>
    public static List<string> Find(string text, string path)
    {
        var errors = new List<string>();
        var stack = new Stack<Frame>();
        var parser = new Parser(new StringReader(text));
        while (parser.MoveNext())
        {
            var e = parser.Current!;
            switch (e)
            {
                case MappingStart: Node(stack); stack.Push(new Frame(isMapping: true)); break;
                case SequenceStart: Node(stack); stack.Push(new Frame(isMapping: false)); break;
                case MappingEnd or SequenceEnd: stack.Pop(); break;
                case Scalar s when stack.TryPeek(out var top) && top.IsMapping && top.ExpectingKey:
                    if (top.Keys.TryGetValue(s.Value, out long first))
                        errors.Add($"{path}:{s.Start.Line}:{s.Start.Column}: duplicate key '{Shorten(s.Value)}' (first at line {first}); each key may appear once in a mapping");
                    else
                        top.Keys[s.Value] = s.Start.Line;
                    top.ExpectingKey = false;
                    break;
                case Scalar or AnchorAlias: Node(stack); break;
            }
        }
        return errors;
    }

    /// <summary>A value node starts or is complete: the mapping around it expects a key next.</summary>
    private static void Node(Stack<Frame> stack)
    {
        if (stack.TryPeek(out var top) && top.IsMapping) top.ExpectingKey = !top.ExpectingKey;
    }

    private static string Shorten(string s) => s.Length <= 64 ? s : s[..64] + "…";
}
