using Npgsql;

namespace M2M.Settlement.Postgres;

/// <summary>
/// The data source every settlement store on PostgreSQL opens on the ledger's database: the ledger's connect timeout,
/// a 10 s statement bound, and synchronous_commit forced on (a settlement row is money owed or paid: it must be on
/// disk before we act on it, whatever the server's default). The application name tells the stores apart in pg_stat_activity.
/// </summary>
internal static class PostgresStoreSource
{
    public static NpgsqlDataSource Create(string connectionString, int connectTimeoutSeconds, string applicationName)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { Timeout = connectTimeoutSeconds, CommandTimeout = 10 };
        builder.Options = string.IsNullOrWhiteSpace(builder.Options) ? "-c synchronous_commit=on" : builder.Options + " -c synchronous_commit=on";
        if (string.IsNullOrEmpty(builder.ApplicationName)) builder.ApplicationName = applicationName;
        return NpgsqlDataSource.Create(builder);
    }
}
