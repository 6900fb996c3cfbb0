using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using M2M.Core.Migrations;
using M2M.Migrations;
using Microsoft.Data.Sqlite;

namespace M2M.Server.Accounts;

/// <summary>A hosted account's row (its money is in the ledger, not here).</summary>
public sealed record HostedAccountRecord(string Id, string AssetCode, byte AssetScale, DateTimeOffset CreatedAt);

/// <summary>States of a payment sent by the send API.</summary>
public static class PaymentStates
{
    public const string Sending = "sending";
    public const string Completed = "completed";
    public const string Failed = "failed";
}

/// <summary>A payment sent by the send API; amounts in the account's asset units.</summary>
public sealed record PaymentRecord(string PaymentId, string AccountId, string ClientId, string Receiver, ulong SourceAmount, string State,
    ulong Sent, ulong Delivered, ulong InFlight, string? Error, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>
/// accounts.db beside the ledger (WAL, synchronous=FULL, file mode 0600): the STREAM server secret
/// (32 random bytes, made once), the hosted accounts with the SHA-256 of their API token (the token
/// itself is shown once, at creation), and the payments of the send API.
/// </summary>
public sealed class AccountStore : IDisposable
{
    public const string FileName = "accounts.db";
    public static readonly MigrationSet Migrations = MigrationSet.FromResources("accounts", typeof(AccountStore).Assembly, "m2m.migrations.accounts.");

    private readonly SqliteConnection _db;
    private readonly Lock _gate = new();

    private AccountStore(SqliteConnection db) => _db = db;

    public static AccountStore Open(string path)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        // Created 0600 before SQLite opens it: SQLite gives the -wal and -shm files the database file's mode,
        // and the WAL holds the STREAM server secret.
        if (!OperatingSystem.IsWindows() && !File.Exists(full))
            new FileStream(full, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }).Dispose();
        var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = full, Pooling = false }.ToString());
        db.Open();
        try
        {
            using (var cmd = db.CreateCommand())
            {
                cmd.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;";
                cmd.ExecuteNonQuery();
            }
            SqliteMigrator.Apply(db, Migrations, full);
            if (!OperatingSystem.IsWindows())
            {
                foreach (string f in new[] { full, full + "-wal", full + "-shm" }.Where(File.Exists))
                    File.SetUnixFileMode(f, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            return new AccountStore(db);
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    /// <summary>The STREAM server secret, created on first use.</summary>
    public byte[] ServerSecret()
    {
        lock (_gate)
        {
            using (var read = Command("SELECT value FROM meta WHERE key = 'stream_server_secret'"))
                if (read.ExecuteScalar() is byte[] existing) return existing;
            // Another process sharing this file may create it at the same moment: the first insert wins and everyone uses that one.
            using (var write = Command("INSERT INTO meta (key, value) VALUES ('stream_server_secret', $v) ON CONFLICT (key) DO NOTHING", ("$v", RandomNumberGenerator.GetBytes(32))))
                write.ExecuteNonQuery();
            using var again = Command("SELECT value FROM meta WHERE key = 'stream_server_secret'");
            return (byte[])again.ExecuteScalar()!;
        }
    }

    /// <summary>Creates the account with a fresh token (returned) or returns null when it exists already.</summary>
    public string? TryCreate(string id, string assetCode, byte assetScale, DateTimeOffset now)
    {
        string token = Core.Stream.StreamCrypto.Base64Url(RandomNumberGenerator.GetBytes(32));
        lock (_gate)
        {
            using var cmd = Command("INSERT INTO accounts (id, asset_code, asset_scale, token_sha256, created_at) VALUES ($id, $c, $s, $t, $at) ON CONFLICT (id) DO NOTHING",
                ("$id", id), ("$c", assetCode), ("$s", assetScale), ("$t", Hash(token)), ("$at", now.ToUnixTimeMilliseconds()));
            return cmd.ExecuteNonQuery() == 1 ? token : null;
        }
    }

    public bool Delete(string id)
    {
        lock (_gate)
        {
            using var cmd = Command("DELETE FROM accounts WHERE id = $id", ("$id", id));
            return cmd.ExecuteNonQuery() == 1;
        }
    }

    public HostedAccountRecord? Get(string id) => Query("SELECT id, asset_code, asset_scale, created_at FROM accounts WHERE id = $id", ReadAccount, ("$id", id)).FirstOrDefault();

    public IReadOnlyList<HostedAccountRecord> List() => Query("SELECT id, asset_code, asset_scale, created_at FROM accounts ORDER BY id", ReadAccount);

    /// <summary>True when <paramref name="token"/> is the account's API token (compared as SHA-256, in constant time).</summary>
    public bool TokenMatches(string id, string token)
    {
        string? stored = Query("SELECT token_sha256 FROM accounts WHERE id = $id", r => r.GetString(0), ("$id", id)).FirstOrDefault();
        return stored is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(stored), Encoding.ASCII.GetBytes(Hash(token)));
    }

    /// <summary>Inserts a payment, or returns the existing one with the same (account, client id).</summary>
    public (PaymentRecord Payment, bool Created) CreatePayment(string accountId, string clientId, string receiver, ulong amount, DateTimeOffset now)
    {
        lock (_gate)
        {
            string id = Guid.CreateVersion7(now).ToString("N");
            using var cmd = Command("""
                INSERT INTO payments (payment_id, account_id, client_id, receiver, source_amount, state, sent, delivered, in_flight, created_at, updated_at)
                VALUES ($p, $a, $c, $r, $amt, 'sending', '0', '0', '0', $at, $at) ON CONFLICT (account_id, client_id) DO NOTHING
                """, ("$p", id), ("$a", accountId), ("$c", clientId), ("$r", receiver), ("$amt", U(amount)), ("$at", now.ToUnixTimeMilliseconds()));
            bool created = cmd.ExecuteNonQuery() == 1;
            var payment = Query("SELECT * FROM payments WHERE account_id = $a AND client_id = $c", ReadPayment, ("$a", accountId), ("$c", clientId)).Single();
            return (payment, created);
        }
    }

    public PaymentRecord? GetPayment(string accountId, string paymentId) =>
        Query("SELECT * FROM payments WHERE account_id = $a AND payment_id = $p", ReadPayment, ("$a", accountId), ("$p", paymentId)).FirstOrDefault();

    public PaymentRecord? PaymentsFor(string accountId, string clientId) =>
        Query("SELECT * FROM payments WHERE account_id = $a AND client_id = $c", ReadPayment, ("$a", accountId), ("$c", clientId)).FirstOrDefault();

    public IReadOnlyList<PaymentRecord> PaymentsIn(string state) => Query("SELECT * FROM payments WHERE state = $s", ReadPayment, ("$s", state));

    /// <summary>Records progress durably (sent, delivered, the amount of the packet now in flight, state, error).</summary>
    public void UpdatePayment(string paymentId, ulong sent, ulong delivered, ulong inFlight, string state, string? error, DateTimeOffset now)
    {
        lock (_gate)
        {
            using var cmd = Command("UPDATE payments SET sent = $s, delivered = $d, in_flight = $f, state = $st, error = $e, updated_at = $at WHERE payment_id = $p",
                ("$s", U(sent)), ("$d", U(delivered)), ("$f", U(inFlight)), ("$st", state), ("$e", error), ("$at", now.ToUnixTimeMilliseconds()), ("$p", paymentId));
            cmd.ExecuteNonQuery();
        }
    }

    private static HostedAccountRecord ReadAccount(SqliteDataReader r) =>
        new(r.GetString(0), r.GetString(1), (byte)r.GetInt32(2), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3)));

    private static PaymentRecord ReadPayment(SqliteDataReader r) => new(
        r.GetString(r.GetOrdinal("payment_id")), r.GetString(r.GetOrdinal("account_id")), r.GetString(r.GetOrdinal("client_id")),
        r.GetString(r.GetOrdinal("receiver")), P(r, "source_amount"), r.GetString(r.GetOrdinal("state")), P(r, "sent"), P(r, "delivered"),
        P(r, "in_flight"), r.IsDBNull(r.GetOrdinal("error")) ? null : r.GetString(r.GetOrdinal("error")),
        DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(r.GetOrdinal("created_at"))), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(r.GetOrdinal("updated_at"))));

    private static ulong P(SqliteDataReader r, string column) => ulong.Parse(r.GetString(r.GetOrdinal(column)), NumberStyles.None, CultureInfo.InvariantCulture);

    private static string U(ulong value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    private List<T> Query<T>(string sql, Func<SqliteDataReader, T> read, params (string Name, object? Value)[] args)
    {
        lock (_gate)
        {
            using var cmd = Command(sql, args);
            using var r = cmd.ExecuteReader();
            var list = new List<T>();
            while (r.Read()) list.Add(read(r));
            return list;
        }
    }

    private SqliteCommand Command(string sql, params (string Name, object? Value)[] args)
    {
        var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (name, value) in args) cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return cmd;
    }

    public void Dispose() => _db.Dispose();
}
