using M2M.Ledger.Postgres;
using M2M.TestKit;
using Npgsql;

namespace M2M.Ledger.Tests;

/// <summary>
/// The one data source our stores open on the ledger's database (the ledger, the doubtful-post journal, the
/// network store): a database whose default is synchronous_commit=off still gets durable commits from us.
/// </summary>
[Collection(PostgresCollection.Name)]
[Trait("Tier", "integration")]
public sealed class PostgresDataSourceTests(PostgresServer server)
{
    [Fact]
    public async Task Forces_synchronous_commit_over_a_database_default_of_off_and_names_the_store()
    {
        string cs = await server.CreateDatabaseAsync();
        string database = new NpgsqlConnectionStringBuilder(cs).Database!;
        await using (var admin = new NpgsqlConnection(server.AdminConnectionString))
        {
            await admin.OpenAsync();
            await using var off = new NpgsqlCommand($"ALTER DATABASE {database} SET synchronous_commit = off", admin);
            await off.ExecuteNonQueryAsync();
        }
        var builder = PostgresConnectionString.Parse(cs);
        await using (var plain = NpgsqlDataSource.Create(builder))
            Assert.Equal("off", await ShowAsync(plain, "synchronous_commit")); // the default really is off

        await using var ours = PostgresConnectionString.CreateDataSource(builder, 7, 9, "m2m-test-store");
        Assert.Equal("on", await ShowAsync(ours, "synchronous_commit"));
        Assert.Equal("m2m-test-store", await ShowAsync(ours, "application_name"));
        var used = new NpgsqlConnectionStringBuilder(ours.ConnectionString);
        Assert.Equal((7, 9), (used.Timeout, used.CommandTimeout));
        Assert.True(string.IsNullOrEmpty(builder.Options), "the caller's builder is left as it was");

        // Options the URL brings are kept, and an application name it gives wins over ours.
        var named = PostgresConnectionString.Parse(cs + ";Application Name=ops-name;Options=-c statement_timeout=4000");
        await using var kept = PostgresConnectionString.CreateDataSource(named, 7, 9, "m2m-test-store");
        Assert.Equal(("on", "ops-name", "4s"), (await ShowAsync(kept, "synchronous_commit"), await ShowAsync(kept, "application_name"), await ShowAsync(kept, "statement_timeout")));
    }

    private static async Task<string> ShowAsync(NpgsqlDataSource source, string setting)
    {
        await using var conn = await source.OpenConnectionAsync();
        await using var show = new NpgsqlCommand($"SHOW {setting}", conn);
        return (string)(await show.ExecuteScalarAsync())!;
    }
}
