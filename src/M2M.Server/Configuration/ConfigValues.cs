using System.Text.RegularExpressions;

namespace M2M.Server.Configuration;

/// <summary>
/// How a config value is echoed in an error: passwords in URLs (scheme://user:password@host) and in
/// connection strings (Password=…) become ***, and a huge value (a pasted file) is cut to its start and length.
/// </summary>
public static partial class ConfigValues
{
    /// <summary>Longest value echoed whole; longer ones are cut (a 50 MB value once filled the terminal).</summary>
    public const int MaxEchoed = 200;

    public static string ForError(string value)
    {
        // Redact first: a cut could leave half a password with its '@' gone.
        string redacted = Password().Replace(UrlPassword().Replace(value, "$1***@"), "$1***");
        string shown = redacted.Length <= MaxEchoed ? redacted : redacted[..MaxEchoed];
        if (shown.Any(char.IsControl)) shown = string.Concat(shown.Select(c => char.IsControl(c) ? '?' : c));
        return redacted.Length <= MaxEchoed ? shown : $"{shown}… ({value.Length:N0} characters)";
    }

    // scheme://user:password@  → scheme://user:***@ (the user name stays: it helps find the entry)
    [GeneratedRegex(@"(\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/:@\s]*:)[^@\s/]*@")]
    private static partial Regex UrlPassword();

    // Password=…; / Pwd=… in a connection string
    [GeneratedRegex(@"(\b(?:password|pwd)\s*=\s*)[^;]*", RegexOptions.IgnoreCase)]
    private static partial Regex Password();
}
