namespace M2M.Server.Configuration;

/// <summary>The Explorer (docs/explorer.md): EXPLORER_ENABLED, EXPLORER_PORT, EXPLORER_TOKEN, EXPLORER_RETENTION_DAYS, EXPLORER_MAX_EVENTS.</summary>
public sealed record ExplorerSettings
{
    /// <summary>The 1.x default port of the Explorer's own listener.</summary>
    public const int DefaultPort = 3001;

    public bool Enabled { get; init; } = true;
    /// <summary>A read-only token for the Explorer and its query API; the admin token is accepted too. Never logged.</summary>
    public string? Token { get; init; }
    public int RetentionDays { get; init; } = 7;
    public int MaxEvents { get; init; } = 100_000;
    /// <summary>
    /// The Explorer's own listener on BIND_ADDRESS (0: any free port); null: only under /explorer on the HTTP port.
    /// Set in code it is required; from the config loader it is 3001 unless EXPLORER_PORT says otherwise.
    /// </summary>
    public int? Port { get; init; }
    /// <summary>
    /// Whether a port that cannot be bound stops the start (EXPLORER_PORT given). The unset default (3001)
    /// only warns: a second connector on the same host keeps the Explorer under /explorer instead of failing to start.
    /// </summary>
    public bool PortRequired { get; init; } = true;
    /// <summary>How often each peer's balance is sampled for the balances-over-time view.</summary>
    public TimeSpan BalanceSampleInterval { get; init; } = TimeSpan.FromSeconds(10);
}

public sealed partial class ConfigLoader
{
    private ExplorerSettings BuildExplorer()
    {
        var d = new ExplorerSettings();
        bool enabled = OneOf("EXPLORER_ENABLED", Env("EXPLORER_ENABLED"), "true", "true", "false", "1", "0") is "true" or "1";
        string? token = Env("EXPLORER_TOKEN");
        if (token is { Length: < 16 }) Error("EXPLORER_TOKEN", "(redacted)", "a token of at least 16 characters");
        int days = (int)UInt("EXPLORER_RETENTION_DAYS", Env("EXPLORER_RETENTION_DAYS"), (ulong)d.RetentionDays, 1, 3650);
        int max = (int)UInt("EXPLORER_MAX_EVENTS", Env("EXPLORER_MAX_EVENTS"), (ulong)d.MaxEvents, 100, 10_000_000);
        string? portText = Env("EXPLORER_PORT")?.Trim();
        int? port = ExplorerSettings.DefaultPort;
        if (portText is not null && portText.Equals("off", StringComparison.OrdinalIgnoreCase)) port = null;
        else if (portText is not null)
        {
            if (int.TryParse(portText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int p) && p <= 65535) port = p;
            else Error("EXPLORER_PORT", portText, "a port from 0 to 65535 (0: any free port), or off");
        }
        return new ExplorerSettings { Enabled = enabled, Token = token, RetentionDays = days, MaxEvents = max, Port = enabled ? port : null, PortRequired = portText is not null };
    }
}
