using System.Text.RegularExpressions;

namespace M2M.Server.Configuration;

/// <summary>One rewrite made by <see cref="ConfigMigrator"/>, reported to the operator as one line.</summary>
public sealed record ConfigChange(int Line, string Description);

/// <summary>
/// Rewrites a 1.x <c>.env</c> or YAML config to the 2.0 names (<c>config migrate</c>). It edits the
/// text line by line instead of re-serializing, so comments, ordering, quoting and every value
/// are kept exactly; only the renamed names change.
/// </summary>
public static partial class ConfigMigrator
{
    /// <summary>1.x environment names and their 2.0 replacements (ConfigLoader still reads the old ones, with a warning).</summary>
    public static IReadOnlyList<(string Old, string New)> Renames { get; } =
    [
        ("SETTLEMENT_METHOD", "SETTLEMENT_PREFERENCE"),
        ("BTP_PORT", "BTP_SERVER_PORT"),
    ];

    public static bool IsYaml(string path) =>
        path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase);

    /// <summary>The migrated text and the changes made (none: the file is already current).</summary>
    public static (string Text, IReadOnlyList<ConfigChange> Changes) Migrate(string text, bool yaml)
    {
        string newline = text.Contains("\r\n", StringComparison.Ordinal) ? "\r\n" : "\n";
        var lines = text.Split(newline).ToList();
        var changes = new List<ConfigChange>();
        if (yaml) MigrateYaml(lines, changes);
        else MigrateEnv(lines, changes);
        return (string.Join(newline, lines), changes);
    }

    /// <summary>.env: <c>[export ]NAME=value</c>. A renamed line keeps its value; if the new name is already set, the old line is removed (the new one wins, as at run time).</summary>
    private static void MigrateEnv(List<string> lines, List<ConfigChange> changes)
    {
        var assigned = lines.Select(l => EnvAssignment().Match(l)).Where(m => m.Success).Select(m => m.Groups["name"].Value).ToHashSet(StringComparer.Ordinal);
        for (int i = 0; i < lines.Count; i++)
        {
            var m = EnvAssignment().Match(lines[i]);
            if (!m.Success) continue;
            string name = m.Groups["name"].Value;
            var rename = Renames.FirstOrDefault(r => r.Old == name);
            if (rename.New is null) continue;
            if (assigned.Contains(rename.New))
            {
                changes.Add(new ConfigChange(i + 1, $"removed {rename.Old} ({rename.New} is already set and wins)"));
                lines.RemoveAt(i--);
                continue;
            }
            lines[i] = string.Concat(lines[i].AsSpan(0, m.Groups["name"].Index), rename.New, lines[i].AsSpan(m.Groups["name"].Index + name.Length));
            assigned.Add(rename.New);
            changes.Add(new ConfigChange(i + 1, $"renamed {rename.Old} to {rename.New} (value kept)"));
        }
        for (int i = 0; i < lines.Count; i++) RenameReferences(lines, i, changes);
    }

    /// <summary>YAML 1.x keys load unchanged; what changes are <c>${OLD}</c> references to renamed variables in values.</summary>
    private static void MigrateYaml(List<string> lines, List<ConfigChange> changes)
    {
        for (int i = 0; i < lines.Count; i++) RenameReferences(lines, i, changes);
    }

    /// <summary><c>${OLD}</c>, <c>${OLD:-default}</c> and <c>$OLD</c> become the new name; the default is kept.</summary>
    private static void RenameReferences(List<string> lines, int i, List<ConfigChange> changes)
    {
        foreach (var (oldName, newName) in Renames)
        {
            string before = lines[i];
            string after = Reference(oldName).Replace(before, m => m.Value.Replace(oldName, newName, StringComparison.Ordinal));
            if (after == before) continue;
            lines[i] = after;
            changes.Add(new ConfigChange(i + 1, $"reference ${{{oldName}}} now reads ${{{newName}}}"));
        }
    }

    private static Regex Reference(string name) => new(@"\$\{" + name + @"(?=[}:])|\$" + name + @"(?![A-Za-z0-9_])", RegexOptions.CultureInvariant);

    [GeneratedRegex(@"^\s*(export\s+)?(?<name>[A-Za-z_][A-Za-z0-9_]*)\s*=")]
    private static partial Regex EnvAssignment();
}
