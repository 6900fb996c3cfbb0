using System.Text;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace M2M.Server.Configuration;

/// <summary>
/// Expands <c>${VAR}</c> and <c>${VAR:-default}</c> in YAML scalar values while keeping the
/// original line/column marks, so errors still point into the operator's file.
/// An unset variable without a default is an error naming it (1.x silently left the text).
/// </summary>
internal sealed partial class EnvExpandingParser(IParser inner, Func<string, string?> getEnv) : IParser
{
    private ParsingEvent? _current;

    public ParsingEvent? Current => _current;

    public bool MoveNext()
    {
        if (!inner.MoveNext())
        {
            _current = null;
            return false;
        }
        _current = inner.Current is Scalar s && s.Value.Contains("${", StringComparison.Ordinal)
            ? new Scalar(s.Anchor, s.Tag, Expand(s.Value, s.Start, getEnv), s.Style, s.IsPlainImplicit, s.IsQuotedImplicit, s.Start, s.End)
            : inner.Current;
        return true;
    }

    internal static string Expand(string value, Mark where, Func<string, string?> getEnv) =>
        Variable().Replace(value, m =>
        {
            string name = m.Groups["name"].Value;
            string? v = getEnv(name);
            if (!string.IsNullOrEmpty(v)) return v;
            if (m.Groups["default"].Success) return m.Groups["default"].Value;
            throw new YamlException(where, where, $"environment variable '{name}' used in the config is not set (use ${{{name}:-default}} for a default)");
        });

    [GeneratedRegex(@"\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*)(:-(?<default>[^}]*))?\}")]
    private static partial Regex Variable();
}
