using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;

namespace M2M.Core.Migrations;

/// <summary>
/// Expand migrations only add (tables, columns, indexes): an older binary still reads and writes
/// the data correctly. A contract migration removes or changes something an older binary relies
/// on, so it raises the store's minimum compatible schema to its own version.
/// </summary>
public enum MigrationKind { Expand, Contract }

/// <summary>One numbered migration script; <see cref="Sha256"/> is recorded when it is applied.</summary>
public sealed record Migration(int Version, string Name, string Sql, string Sha256, MigrationKind Kind)
{
    /// <summary>First line <c>-- kind: contract</c> marks a contract migration; anything else is expand.</summary>
    public const string ContractMarker = "-- kind: contract";

    /// <summary>Parses <c>NNNN_name.sql</c>; the checksum covers the text with LF line endings (git checkouts may use CRLF).</summary>
    public static Migration FromFile(string fileName, string text)
    {
        string stem = Path.GetFileNameWithoutExtension(fileName);
        int underscore = stem.IndexOf('_');
        if (underscore <= 0 || !int.TryParse(stem[..underscore], NumberStyles.None, CultureInfo.InvariantCulture, out int version) || version <= 0)
            throw new ArgumentException($"migration file name '{fileName}' is not NNNN_name.sql", nameof(fileName));
        string normalized = text.Replace("\r\n", "\n", StringComparison.Ordinal);
        string sha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(normalized)));
        var kind = normalized.StartsWith(ContractMarker, StringComparison.Ordinal) ? MigrationKind.Contract : MigrationKind.Expand;
        return new Migration(version, stem[(underscore + 1)..], normalized, sha, kind);
    }
}

/// <summary>A migration as recorded in a store's <c>schema_migrations</c> table.</summary>
public sealed record AppliedMigration(int Version, string Name, string Sha256, MigrationKind Kind);

/// <summary>
/// The migrations this binary knows for one store, numbered 1..N without gaps. Two test-only
/// environment variables exist (documented in docs/operations-data.md, never for production; the
/// config loader reads them and the executable installs them as <see cref="Diagnostics.TestSeams"/>):
/// <c>M2M_SIMULATE_SCHEMA_VERSION=N</c> makes the binary behave as a release that only knows
/// migrations up to N (a rollback simulation), and <c>M2M_TEST_EXTRA_MIGRATIONS=DIR</c> adds
/// <c>DIR/&lt;store&gt;/NNNN_name.sql</c> files (a future release simulation).
/// </summary>
public sealed class MigrationSet
{
    public const string SimulateVersionVariable = "M2M_SIMULATE_SCHEMA_VERSION";
    public const string ExtraMigrationsVariable = "M2M_TEST_EXTRA_MIGRATIONS";

    private MigrationSet(string store, IReadOnlyList<Migration> all)
    {
        Store = store;
        All = all;
    }

    /// <summary>Store name: ledger, settlements, evm-channels, evm-claims.</summary>
    public string Store { get; }

    public IReadOnlyList<Migration> All { get; }

    /// <summary>The newest schema version this binary writes and understands.</summary>
    public int Latest => All.Count == 0 ? 0 : All[^1].Version;

    public Migration? Get(int version) => All.FirstOrDefault(m => m.Version == version);

    /// <summary>The embedded resources whose logical name starts with <paramref name="prefix"/> (plus the test-only overrides).</summary>
    public static MigrationSet FromResources(string store, Assembly assembly, string prefix)
    {
        var files = new List<(string, string)>();
        foreach (string name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream, Encoding.UTF8);
            files.Add((name[prefix.Length..], reader.ReadToEnd()));
        }
        string? extra = Diagnostics.TestSeams.Current.ExtraMigrationsDirectory;
        if (!string.IsNullOrEmpty(extra) && Directory.Exists(Path.Combine(extra, store)))
            files.AddRange(Directory.GetFiles(Path.Combine(extra, store), "*.sql").Select(f => (Path.GetFileName(f), File.ReadAllText(f))));
        return Of(store, files, Diagnostics.TestSeams.Current.SimulatedSchemaVersion);
    }

    /// <summary>Builds a set from (file name, text) pairs. A gap (a deleted file) is reported by the planner, not here.</summary>
    public static MigrationSet Of(string store, IEnumerable<(string FileName, string Text)> files, int? upTo = null)
    {
        var all = files.Select(f => Migration.FromFile(f.FileName, f.Text)).OrderBy(m => m.Version).ToList();
        var dup = all.GroupBy(m => m.Version).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new InvalidOperationException($"{store} has two migrations numbered {dup.Key:D4}");
        if (upTo is { } n) all = all.Where(m => m.Version <= n).ToList();
        return new MigrationSet(store, all);
    }
}
