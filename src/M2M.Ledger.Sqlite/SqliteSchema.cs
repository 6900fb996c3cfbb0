using System.Globalization;
using M2M.Core.Ledger;
using M2M.Core.Migrations;
using Microsoft.Data.Sqlite;

namespace M2M.Ledger.Sqlite;

/// <summary>
/// Schema and encodings. Ids are 32-character lower-case hex (fixed width, so text order is
/// numeric order and an operator can read them in sqlite3); amounts are decimal TEXT because
/// UInt128 does not fit SQLite's 64-bit INTEGER. Times are Unix milliseconds.
/// </summary>
internal static class SqliteSchema
{
    /// <summary>The numbered migrations in Migrations/*.sql (embedded); a newer contract schema is refused.</summary>
    public static readonly MigrationSet Migrations = MigrationSet.FromResources("ledger", typeof(SqliteSchema).Assembly, "m2m.migrations.ledger-sqlite.");

    /// <summary>Ids are stored as 32 lower-case hex digits (fixed width, so text order is numeric order).</summary>
    public const string IdFormat = "x32";

    public static string Id(UInt128 id) => id.ToString(IdFormat, CultureInfo.InvariantCulture);

    public static UInt128 ParseId(string s) => UInt128.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    public static string Amount(UInt128 a) => a.ToString(CultureInfo.InvariantCulture);

    public static UInt128 ParseAmount(string s) => UInt128.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture);

    public static long Millis(DateTimeOffset t) => t.ToUnixTimeMilliseconds();

    public static DateTimeOffset FromMillis(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    public const string AccountColumns = "id, ledger, code, flags, debit_limit, name, debits_pending, debits_posted, credits_pending, credits_posted, created_at";

    public const string TransferColumns = "id, debit_account_id, credit_account_id, amount, pending_id, ledger, code, flags, timeout_at, pending_state, created_at";

    public static Account ReadAccount(SqliteDataReader r) => new()
    {
        Id = ParseId(r.GetString(0)),
        Ledger = (uint)r.GetInt64(1),
        Code = (ushort)r.GetInt64(2),
        Flags = (AccountFlags)r.GetInt64(3),
        DebitLimit = ParseAmount(r.GetString(4)),
        Name = r.GetString(5),
        DebitsPending = ParseAmount(r.GetString(6)),
        DebitsPosted = ParseAmount(r.GetString(7)),
        CreditsPending = ParseAmount(r.GetString(8)),
        CreditsPosted = ParseAmount(r.GetString(9)),
        CreatedAt = FromMillis(r.GetInt64(10)),
    };

    public static (Transfer Transfer, PendingState? State) ReadTransfer(SqliteDataReader r) => (new Transfer
    {
        Id = ParseId(r.GetString(0)),
        DebitAccountId = ParseId(r.GetString(1)),
        CreditAccountId = ParseId(r.GetString(2)),
        Amount = ParseAmount(r.GetString(3)),
        PendingId = r.IsDBNull(4) ? UInt128.Zero : ParseId(r.GetString(4)),
        Ledger = (uint)r.GetInt64(5),
        Code = (ushort)r.GetInt64(6),
        Flags = (TransferFlags)r.GetInt64(7),
        TimeoutAt = r.IsDBNull(8) ? null : FromMillis(r.GetInt64(8)),
        CreatedAt = FromMillis(r.GetInt64(10)),
    }, r.IsDBNull(9) ? null : (PendingState)r.GetInt64(9));
}
