using System.Text.Json;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>The PostgreSQL ledger: migrations recorded with SHA-256, `backup --full --verify` with pg_dump, restore, edited migration refused.</summary>
[Collection("data")]
[Trait("Tier", "process")]
public class PostgresDataTests(PostgresServer postgres) : IClassFixture<PostgresServer>
{
    [Fact]
    public async Task Pg_dump_backup_verifies_restores_exactly_and_an_edited_migration_is_refused()
    {
        string url = postgres.ConnectionString(await postgres.CreateDatabaseAsync());
        using var node = new DataTestNode("pg-backup");
        node.Env["LEDGER_BACKEND"] = "postgres";
        node.Env["LEDGER_POSTGRES_URL"] = url;
        string balances = Path.Combine(node.Dir, "balances.json");
        File.WriteAllText(balances, """{"format": "m2m-balances/1", "balances": [{"peerId": "alice", "asset": "USD", "scale": 9, "balance": "-40"}, {"peerId": "bob", "asset": "USD", "scale": 9, "balance": "90"}]}""");
        var importRun = await node.Cli(null, "ledger", "import", balances);
        Assert.True(importRun.Code == 0, importRun.Stdout + importRun.Stderr);
        var before = await node.Cli(null, "ledger", "balances");

        string dir = Path.Combine(node.Dir, "pg-backup");
        var backup = await node.Cli(null, "backup", "--full", "--verify", "--out", dir);
        Assert.True(backup.Code == 0, backup.Stdout + backup.Stderr);
        Assert.Contains("restored into scratch database", backup.Stdout);
        Assert.Contains("0 violations", backup.Stdout);
        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json"))).RootElement;
        var ledger = manifest.GetProperty("files").EnumerateArray().Single(f => f.GetProperty("store").GetString() == "ledger");
        Assert.Equal("pg_dump", ledger.GetProperty("kind").GetString());
        Assert.Equal(M2M.Ledger.Postgres.PostgresLedger.Migrations.Latest, ledger.GetProperty("schemaVersion").GetInt32());

        // Change the books, then restore: exactly the backed-up balances again, and verify passes.
        File.WriteAllText(balances, """{"format": "m2m-balances/1", "balances": [{"peerId": "bob", "asset": "USD", "scale": 9, "balance": "7"}]}""");
        var reimport = await node.Cli(null, "ledger", "import", balances);
        Assert.True(reimport.Code == 0, reimport.Stdout + reimport.Stderr);
        Assert.NotEqual(before.Stdout, (await node.Cli(null, "ledger", "balances")).Stdout);
        var restore = await node.Cli(null, "restore", "--from", dir, "--force");
        Assert.True(restore.Code == 0, restore.Stdout + restore.Stderr);
        Assert.Equal(before.Stdout, (await node.Cli(null, "ledger", "balances")).Stdout);
        Assert.Equal(0, (await node.Cli(null, "ledger", "verify")).Code);

        // An older binary on this expand-only schema still works; an edited applied migration is refused.
        Assert.Equal(0, (await node.Cli(node.EnvWith(("M2M_SIMULATE_SCHEMA_VERSION", "1")), "ledger", "balances")).Code);
        await using (var conn = new Npgsql.NpgsqlConnection(url))
        {
            await conn.OpenAsync();
            await using var cmd = new Npgsql.NpgsqlCommand("UPDATE schema_migrations SET sha256 = repeat('0', 64) WHERE version = 1", conn);
            Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
        }
        var edited = await node.Cli(null, "ledger", "balances");
        Assert.NotEqual(0, edited.Code);
        Assert.Contains("edited", edited.Stderr);
    }
}
