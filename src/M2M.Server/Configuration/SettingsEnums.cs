namespace M2M.Server.Configuration;

// Settings are typed once validated: the config loader turns the operator's strings into these enums
// (one clear line naming the key and the allowed values otherwise), and nothing downstream compares strings.
// The lower-case member name is the config spelling (SettingNames.ConfigName), so the enums are the lists
// of allowed values.

/// <summary>ENVIRONMENT: production refuses plain ws:// peer URLs and loopback wallet RPC URLs.</summary>
public enum DeploymentEnvironment
{
    Development,
    Staging,
    Production,
}

/// <summary>logLevel (LOG_LEVEL).</summary>
public enum ConnectorLogLevel
{
    Debug,
    Info,
    Warn,
    Error,
}

/// <summary>ledger.backend (LEDGER_BACKEND).</summary>
public enum LedgerBackend
{
    Sqlite,
    Postgres,
}

/// <summary>peers[].settlement.method (default from SETTLEMENT_PREFERENCE; "both" prefers evm).</summary>
public enum SettlementMethodKind
{
    // In the order the error message has always listed them.
    Evm,
    Xrp,
    Rfc38,
    None,
}

public static class SettingNames
{
    /// <summary>The config spelling of a typed setting: its lower-case name ("postgres", "rfc38").</summary>
    public static string ConfigName<T>(this T value) where T : struct, Enum => value.ToString().ToLowerInvariant();

    /// <summary>The member whose config spelling is <paramref name="name"/> (case-insensitive); numbers are not names.</summary>
    public static bool TryParse<T>(string name, out T value) where T : struct, Enum
    {
        foreach (var v in Enum.GetValues<T>())
        {
            if (string.Equals(v.ConfigName(), name, StringComparison.OrdinalIgnoreCase))
            {
                value = v;
                return true;
            }
        }
        value = default;
        return false;
    }

    /// <summary>"sqlite, postgres": the allowed values, for error messages.</summary>
    public static string Allowed<T>() where T : struct, Enum => string.Join(", ", Enum.GetValues<T>().Select(v => v.ConfigName()));
}
