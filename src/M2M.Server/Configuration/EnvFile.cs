using System.Text.RegularExpressions;

namespace M2M.Server.Configuration;

/// <summary>
/// A .env file: NAME=value lines (comments, blanks and `export ` allowed; matching quotes removed),
/// read as the TypeScript 1.x read its .env (dotenv): a variable already set in the environment
/// wins over the file. `run --env-file F` (else ./.env when present) and `config validate` use
/// this one rule, so what validate accepts is what run starts with.
/// </summary>
public static partial class EnvFile
{
    /// <summary>The file's variables in file order (a later line of the same name wins); throws <see cref="ConfigException"/> with one line when unreadable.</summary>
    public static Dictionary<string, string> Read(string path)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        IEnumerable<string> lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException([$"env file '{path}' cannot be read: {e.Message}"]);
        }
        foreach (var line in lines)
        {
            var m = EnvLine().Match(line);
            if (!m.Success) continue;
            string value = m.Groups["value"].Value.Trim();
            if (value.Length >= 2 && (value[0] == '"' || value[0] == '\'') && value[^1] == value[0]) value = value[1..^1];
            values[m.Groups["name"].Value] = value;
        }
        return values;
    }

    /// <summary>The env file to read: the explicit one (must exist), else ./.env when present, else none.</summary>
    public static string? Resolve(string? explicitPath)
    {
        if (!string.IsNullOrEmpty(explicitPath))
            return File.Exists(explicitPath) ? explicitPath : throw new ConfigException([$"env file '{explicitPath}' does not exist"]);
        return File.Exists(".env") ? ".env" : null;
    }

    /// <summary>
    /// Sets each of the file's variables that the environment does not already set (so every reader
    /// of the process environment sees them); returns the names the environment overrode.
    /// </summary>
    public static IReadOnlyList<string> ApplyToProcess(IReadOnlyDictionary<string, string> values)
    {
        var overridden = new List<string>();
        foreach (var (name, value) in values)
        {
            if (ConfigLoader.Variable(name) is not null) overridden.Add(name);
            else Environment.SetEnvironmentVariable(name, value);
        }
        return overridden;
    }

    /// <summary>One log line saying what was read and which names the environment overrode.</summary>
    public static string Describe(string path, int count, IReadOnlyList<string> overridden) =>
        $"env file {path}: {count} variables" + (overridden.Count == 0 ? "" : $"; set in the environment, which wins: {string.Join(", ", overridden)}");

    [GeneratedRegex(@"^\s*(export\s+)?(?<name>[A-Za-z_][A-Za-z0-9_]*)\s*=(?<value>.*)$")]
    private static partial Regex EnvLine();
}
