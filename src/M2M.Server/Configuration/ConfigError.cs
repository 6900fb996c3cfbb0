namespace M2M.Server.Configuration;

/// <summary>One or more invalid settings; each line names the key, the value and what is expected.</summary>
public sealed class ConfigException(IReadOnlyList<string> errors)
    : Exception(string.Join(System.Environment.NewLine, errors))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}
