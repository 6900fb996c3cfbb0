using System.Text.Json;
using System.Text.Json.Serialization;

namespace M2M.Server.Data;

/// <summary>One file of a backup: which store, its schema, its size and SHA-256.</summary>
public sealed record BackupEntry
{
    public required string Store { get; init; }
    public required string File { get; init; }
    /// <summary>"sqlite" (a consistent VACUUM INTO copy) or "pg_dump" (custom format archive).</summary>
    public required string Kind { get; init; }
    public int SchemaVersion { get; init; }
    public int MinCompatibleSchema { get; init; }
    public long Bytes { get; init; }
    public required string Sha256 { get; init; }
    /// <summary>Where the store lived when backed up (restore writes to the configured path).</summary>
    public string? SourcePath { get; init; }
}

/// <summary>manifest.json of a backup directory. Written last, so a directory without it is an incomplete backup.</summary>
public sealed record BackupManifest
{
    public const string FileName = "manifest.json";
    public const string CurrentFormat = "m2m-backup/1";

    public string Format { get; init; } = CurrentFormat;
    public required string ToolVersion { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required string NodeId { get; init; }
    public required string LedgerBackend { get; init; }
    public required IReadOnlyList<BackupEntry> Files { get; init; }

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public void Write(string directory)
    {
        string tmp = Path.Combine(directory, FileName + ".tmp");
        File.WriteAllText(tmp, JsonSerializer.Serialize(this, Json));
        File.Move(tmp, Path.Combine(directory, FileName), overwrite: true);
    }

    /// <summary>Reads and checks the manifest; throws <see cref="BackupException"/> with one clear line.</summary>
    public static BackupManifest Read(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) throw new BackupException($"{path} not found: not a backup directory, or an incomplete backup");
        BackupManifest? m;
        try
        {
            m = JsonSerializer.Deserialize<BackupManifest>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw new BackupException($"{path} is not a valid backup manifest: {e.Message}");
        }
        if (m is null || m.Format != CurrentFormat) throw new BackupException($"{path}: unknown backup format '{m?.Format}' (expected {CurrentFormat})");
        foreach (var f in m.Files)
            if (f.File.Contains('/') || f.File.Contains('\\') || f.File.StartsWith('.'))
                throw new BackupException($"{path}: file name '{f.File}' is not a plain file name");
        return m;
    }
}

/// <summary>A backup or restore cannot proceed; the message is the one line the operator sees.</summary>
public sealed class BackupException(string message) : Exception(message);
