using Npgsql;

namespace M2M.Ledger.Postgres;

/// <summary>
/// LEDGER_POSTGRES_URL in either form operators use: a URL (postgres://user:password@host:5432/db?sslmode=require,
/// as libpq and most hosting providers print it) or an Npgsql connection string (Host=…;Database=…). Problems are
/// described in one line that never contains the password.
/// </summary>
public static class PostgresConnectionString
{
    /// <summary>The Npgsql form; throws <see cref="ArgumentException"/> (with a password-free message) when invalid.</summary>
    public static NpgsqlConnectionStringBuilder Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        try
        {
            return IsUrl(value)
                ? FromUrl(value)
                : new NpgsqlConnectionStringBuilder(value);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException or UriFormatException or InvalidCastException or OverflowException)
        {
            throw new ArgumentException(Describe(e), nameof(value));
        }
    }

    /// <summary>Null when <paramref name="value"/> can be used, else what is wrong with it.</summary>
    public static string? Problem(string value)
    {
        try
        {
            Parse(value);
            return null;
        }
        catch (ArgumentException e)
        {
            return e.Message.Split(" (Parameter", 2)[0];
        }
    }

    /// <summary>
    /// The connect timeout <paramref name="value"/> names itself (Npgsql's Timeout=, or libpq's connect_timeout in a
    /// postgres:// URL), or null when it names none (or cannot be parsed: <see cref="Problem"/> reports that).
    /// </summary>
    public static int? ExplicitConnectTimeout(string value)
    {
        if (Problem(value) is not null) return null;
        bool named;
        if (IsUrl(value))
        {
            named = new Uri(value).Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
                .Select(pair => Uri.UnescapeDataString(pair.Split('=', 2)[0]))
                .Any(key => key.Equals("timeout", StringComparison.OrdinalIgnoreCase) || key.Equals("connect_timeout", StringComparison.OrdinalIgnoreCase));
        }
        else
        {
            named = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = value }.ContainsKey("timeout");
        }
        return named ? Parse(value).Timeout : null;
    }

    /// <summary>
    /// The data source each of our stores opens on the ledger's database (the ledger, the doubtful-post journal,
    /// the network store): the given timeouts, synchronous_commit forced on (each row is money or a change we act
    /// on once committed, so it must be on disk by then, whatever the server's or database's default), and
    /// <paramref name="applicationName"/> in pg_stat_activity unless the URL names one. <paramref name="builder"/> is not changed.
    /// </summary>
    public static NpgsqlDataSource CreateDataSource(NpgsqlConnectionStringBuilder builder, int connectTimeoutSeconds, int commandTimeoutSeconds, string applicationName)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var b = new NpgsqlConnectionStringBuilder(builder.ConnectionString) { Timeout = connectTimeoutSeconds, CommandTimeout = commandTimeoutSeconds };
        b.Options = string.IsNullOrWhiteSpace(b.Options) ? "-c synchronous_commit=on" : b.Options + " -c synchronous_commit=on";
        if (string.IsNullOrEmpty(b.ApplicationName)) b.ApplicationName = applicationName;
        return NpgsqlDataSource.Create(b);
    }

    private static bool IsUrl(string value) =>
        value.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || value.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase);

    private static NpgsqlConnectionStringBuilder FromUrl(string value)
    {
        var uri = new Uri(value);
        if (string.IsNullOrEmpty(uri.Host)) throw new FormatException("the URL has no host");
        var b = new NpgsqlConnectionStringBuilder { Host = uri.Host };
        if (!uri.IsDefaultPort && uri.Port > 0) b.Port = uri.Port;
        string[] user = uri.UserInfo.Split(':', 2);
        if (user[0].Length > 0) b.Username = Uri.UnescapeDataString(user[0]);
        if (user.Length == 2) b.Password = Uri.UnescapeDataString(user[1]);
        string database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (database.Length > 0) b.Database = database;
        foreach (string pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] kv = pair.Split('=', 2);
            string key = Uri.UnescapeDataString(kv[0]);
            // libpq's name for it, as hosting providers print URLs; Npgsql calls it Timeout.
            if (key.Equals("connect_timeout", StringComparison.OrdinalIgnoreCase)) key = "Timeout";
            b[key] = kv.Length == 2 ? Uri.UnescapeDataString(kv[1]) : "";
        }
        return b;
    }

    // Npgsql's own messages name keys, not values; a URL parser's may quote the input, so it is not echoed.
    private static string Describe(Exception e) => e switch
    {
        UriFormatException => "not a valid URL",
        ArgumentException when e.Message.StartsWith("Format of the initialization string", StringComparison.Ordinal) => "not a valid connection string (expected key=value pairs separated by ';')",
        _ => e.Message,
    };
}
