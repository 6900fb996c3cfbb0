namespace M2M.Server.Configuration;

// Settings are typed once validated: the config loader turns the operator's strings into these enums
// (one clear line naming the key and the allowed values otherwise), and nothing downstream compares strings.
// The member name in lower case, words joined by '-', is the config spelling (SettingNames.ConfigName:
// BtpTransfer is "btp-transfer"), so the enums are the lists of allowed values.

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
    BtpTransfer,
    None,
}

public static class SettingNames
{
    /// <summary>The config spelling of a typed setting: its name in lower case, words joined by '-' ("postgres", "rfc38", "btp-transfer").</summary>
    public static string ConfigName<T>(this T value) where T : struct, Enum
    {
        string name = value.ToString();
        var spelling = new System.Text.StringBuilder(name.Length + 2);
        for (int i = 0; i < name.Length; i++)
        {
            if (i > 0 && char.IsUpper(name[i])) spelling.Append('-');
            spelling.Append(char.ToLowerInvariant(name[i]));
        }
        return spelling.ToString();
    }

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
