namespace M2M.Server.Configuration;

/// <summary>The Explorer (docs/explorer.md): EXPLORER_ENABLED, EXPLORER_TOKEN, EXPLORER_RETENTION_DAYS, EXPLORER_MAX_EVENTS.</summary>
public sealed record ExplorerSettings
{
    public bool Enabled { get; init; } = true;
    /// <summary>A read-only token for the Explorer and its query API; the admin token is accepted too. Never logged.</summary>
    public string? Token { get; init; }
    public int RetentionDays { get; init; } = 7;
    public int MaxEvents { get; init; } = 100_000;
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
        return new ExplorerSettings { Enabled = enabled, Token = token, RetentionDays = days, MaxEvents = max };
    }
}
