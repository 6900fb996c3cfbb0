namespace M2M.Core.Migrations;

/// <summary>
/// A store's data cannot be used by this binary: it was written by a newer release with a
/// contract migration, or an applied migration was edited or deleted. Nothing has been written.
/// </summary>
public sealed class DataSchemaException(string message) : Exception(message);

/// <summary>What a store's recorded migrations say about it.</summary>
public sealed record SchemaState(int Version, int MinCompatible, IReadOnlyList<AppliedMigration> Applied)
{
    public static SchemaState From(IReadOnlyList<AppliedMigration> applied) => new(
        applied.Count == 0 ? 0 : applied.Max(a => a.Version),
        applied.Where(a => a.Kind == MigrationKind.Contract).Select(a => a.Version).DefaultIfEmpty(0).Max(),
        applied);
}

/// <summary>
/// Decides, without I/O, which migrations to apply, or refuses. Rules: every applied migration
/// this binary knows must have the same SHA-256 (an edited one is refused) and must still exist
/// (a deleted one is refused); applied versions run 1..N; data newer than the binary is accepted
/// only while its minimum compatible schema (its highest contract migration) is one we know.
/// </summary>
public static class MigrationPlanner
{
    public const string RestoreHint = "m2m-connector restore --from <backup-dir>";

    public static IReadOnlyList<Migration> Plan(MigrationSet set, SchemaState state, string location)
    {
        foreach (var a in state.Applied.OrderBy(a => a.Version))
        {
            if (a.Version > set.Latest) continue;
            var known = set.Get(a.Version);
            if (known is null)
                throw new DataSchemaException($"{set.Store} store {location}: applied migration {a.Version:D4}_{a.Name} is missing from this release (deleted migration); refusing to start");
            if (known.Sha256 != a.Sha256)
                throw new DataSchemaException($"{set.Store} store {location}: migration {a.Version:D4}_{a.Name} was edited after it was applied (recorded sha256 {a.Sha256[..12]}…, this release has {known.Sha256[..12]}…); refusing to start");
        }
        var versions = state.Applied.Select(a => a.Version).OrderBy(v => v).ToList();
        for (int i = 0; i < versions.Count; i++)
            if (versions[i] != i + 1)
                throw new DataSchemaException($"{set.Store} store {location}: applied migrations are not contiguous (found {versions[i]} where {i + 1} was expected); refusing to start");
        if (state.Version > set.Latest)
        {
            if (state.MinCompatible > set.Latest) throw Newer(set, state, location);
            return []; // a newer expand-only schema: this release can still use it unchanged
        }
        var pending = set.All.Where(m => m.Version > state.Version).ToList();
        for (int v = state.Version + 1; v <= set.Latest; v++)
            if (set.Get(v) is null)
                throw new DataSchemaException($"{set.Store} store {location}: migration {v:D4} is missing from this release (deleted migration); refusing to start");
        return pending;
    }

    public static DataSchemaException Newer(MigrationSet set, SchemaState state, string location) => new(
        $"{set.Store} store {location} has schema version {state.Version} (written by a newer release; it needs a binary that knows schema {state.MinCompatible} or later), "
        + $"but this connector only supports {set.Store} schema versions up to {set.Latest}. Nothing was written. Run the newer release again, "
        + $"or restore the pre-upgrade backup: {RestoreHint} (see docs/operations-data.md)");
}
