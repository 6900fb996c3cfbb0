using M2M.Core.Ledger;
using M2M.Core.Migrations;
using M2M.Ledger.Sqlite;
using M2M.Migrations;
using Microsoft.Data.Sqlite;

namespace M2M.Ledger.Tests;

/// <summary>R21 (library part): numbered migrations with recorded SHA-256 on real SQLite files.</summary>
[Trait("Tier", "integration")]
public class MigrationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("m2m-migrations-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly (string, string)[] V1 = [("0001_a.sql", "CREATE TABLE a (x INTEGER);"), ("0002_b.sql", "CREATE TABLE b (y INTEGER);")];

    private SqliteConnection Open(string name = "s.db")
    {
        var c = new SqliteConnection($"Data Source={Path.Combine(_dir, name)};Pooling=false");
        c.Open();
        return c;
    }

    [Fact]
    public async Task Embedded_ledger_migrations_are_numbered_and_applying_twice_is_a_no_op()
    {
        Assert.True(SqliteLedger.Migrations.Latest >= 2);
        Assert.Equal(Enumerable.Range(1, SqliteLedger.Migrations.Latest), SqliteLedger.Migrations.All.Select(m => m.Version));
        string path = Path.Combine(_dir, "ledger.db");
        await SqliteLedger.Open(path).DisposeAsync();
        string dump1 = SchemaDump(path);
        await SqliteLedger.Open(path).DisposeAsync();
        using var c = Open("ledger.db");
        Assert.Equal(0, SqliteMigrator.Apply(c, SqliteLedger.Migrations, path));
        Assert.Equal(dump1, SchemaDump(path));
        var state = SqliteMigrator.ReadState(c);
        Assert.Equal(SqliteLedger.Migrations.Latest, state.Version);
        Assert.All(state.Applied, a => Assert.Equal(SqliteLedger.Migrations.Get(a.Version)!.Sha256, a.Sha256));
    }

    [Fact]
    public void A_pre_framework_ledger_file_adopts_the_migrations_without_losing_rows()
    {
        // The 2.0.0-preview layout: schema_version = 1, no schema_migrations.
        string path = Path.Combine(_dir, "old.db");
        using (var c = Open("old.db"))
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = SqliteLedger.Migrations.Get(1)!.Sql + "INSERT INTO schema_version VALUES (1, 0); INSERT INTO accounts VALUES ('01', 1, 1, 0, '0', 'x', '0', '0', '0', '0', 0);";
            cmd.ExecuteNonQuery();
        }
        Assert.Equal(SqliteLedger.Migrations.Latest, SqliteMigrator.Pending(path, SqliteLedger.Migrations).Count);
        using var c2 = Open("old.db");
        Assert.Equal(SqliteLedger.Migrations.Latest, SqliteMigrator.Apply(c2, SqliteLedger.Migrations, path));
        Assert.Equal(1L, SqliteFiles.RowCounts(path)["accounts"]);
        Assert.Equal(SqliteLedger.Migrations.Latest, SqliteMigrator.ReadState(c2).Version);
    }

    [Fact]
    public void An_edited_applied_migration_is_refused()
    {
        using var c = Open();
        Assert.Equal(2, SqliteMigrator.Apply(c, MigrationSet.Of("t", V1), "s.db"));
        var edited = MigrationSet.Of("t", [("0001_a.sql", "CREATE TABLE a (x INTEGER, z TEXT);"), V1[1]]);
        var e = Assert.Throws<DataSchemaException>(() => SqliteMigrator.Apply(c, edited, "s.db"));
        Assert.Contains("edited", e.Message);
    }

    [Fact]
    public void A_deleted_applied_migration_is_refused()
    {
        var three = V1.Append(("0003_c.sql", "CREATE TABLE c (z INTEGER);")).ToArray();
        using var c = Open();
        Assert.Equal(3, SqliteMigrator.Apply(c, MigrationSet.Of("t", three), "s.db"));
        var e = Assert.Throws<DataSchemaException>(() => SqliteMigrator.Apply(c, MigrationSet.Of("t", [three[0], three[2]]), "s.db"));
        Assert.Contains("deleted", e.Message);
    }

    [Fact]
    public void Older_binary_runs_on_newer_expand_schema_but_refuses_a_contract_schema()
    {
        using var c = Open();
        SqliteMigrator.Apply(c, MigrationSet.Of("t", V1), "s.db");
        // An older release knows only 0001: the expand-only 0002 is fine for it.
        Assert.Empty(MigrationPlanner.Plan(MigrationSet.Of("t", V1, upTo: 1), SqliteMigrator.ReadState(c), "s.db"));
        var contract = V1.Append(("0003_c.sql", Migration.ContractMarker + "\nDROP TABLE a;")).ToArray();
        SqliteMigrator.Apply(c, MigrationSet.Of("t", contract), "s.db");
        var state = SqliteMigrator.ReadState(c);
        Assert.Equal((3, 3), (state.Version, state.MinCompatible));
        var e = Assert.Throws<DataSchemaException>(() => SqliteMigrator.Apply(c, MigrationSet.Of("t", V1), "s.db"));
        Assert.Contains("schema version 3", e.Message);
        Assert.Contains("up to 2", e.Message);
        Assert.Contains("m2m-connector restore --from", e.Message);
    }

    [Fact]
    public void A_failing_migration_rolls_back_completely()
    {
        using var c = Open();
        var bad = V1.Append(("0003_bad.sql", "CREATE TABLE c (z INTEGER); INSERT INTO nope VALUES (1);")).ToArray();
        Assert.Throws<SqliteException>(() => SqliteMigrator.Apply(c, MigrationSet.Of("t", bad), "s.db"));
        Assert.Equal(2, SqliteMigrator.ReadState(c).Version);
        Assert.DoesNotContain("c", SqliteFiles.RowCounts(Path.Combine(_dir, "s.db")).Keys);
    }

    [Fact]
    public async Task Newer_contract_ledger_is_refused_by_Open_with_zero_bytes_written()
    {
        string path = Path.Combine(_dir, "ledger.db");
        await SqliteLedger.Open(path).DisposeAsync();
        using (var c = Open("ledger.db"))
        {
            var future = SqliteLedger.Migrations.All.Select(m => ($"{m.Version:D4}_{m.Name}.sql", m.Sql))
                .Append(($"{SqliteLedger.Migrations.Latest + 1:D4}_future.sql", Migration.ContractMarker + "\nCREATE TABLE future (x);"));
            SqliteMigrator.Apply(c, MigrationSet.Of("ledger", future), path);
        }
        string before = SqliteFiles.Sha256(path);
        var e = Assert.Throws<LedgerUnavailableException>(() => SqliteLedger.Open(path));
        Assert.Contains($"up to {SqliteLedger.Migrations.Latest}", e.Message);
        Assert.Equal(before, SqliteFiles.Sha256(path));
    }

    private static string SchemaDump(string path)
    {
        using var c = SqliteFiles.OpenReadOnly(path);
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name)";
        return (string)cmd.ExecuteScalar()!;
    }
}
