using System.Buffers.Binary;
using System.Numerics;
using M2M.Core.Ledger;
using Npgsql;

namespace M2M.Ledger.Postgres;

/// <summary>
/// Column encodings. Ids (UInt128) are stored as UUID holding the id's 16 big-endian bytes, so
/// UUID order is numeric order (ORDER BY id locks rows in ascending id order) and the text form
/// is the id in hex (id 1001 = 00000000-0000-0000-0000-0000000003e9). Amounts are NUMERIC(39,0),
/// which holds the whole UInt128 range. timeout_at is BIGINT UTC ticks (100 ns, exact round trip
/// of DateTimeOffset, so expiry decisions match the in-memory model to the tick); created_at is
/// TIMESTAMPTZ (informational, microsecond precision).
/// </summary>
internal static class PgCodec
{
    public const string TransferColumns = "id, debit_account_id, credit_account_id, amount, pending_id, ledger, code, flags, timeout_at, created_at, state";
    public const string AccountColumns = "id, ledger, code, flags, debit_limit, name, debits_pending, debits_posted, credits_pending, credits_posted, created_at";

    public static Guid ToUuid(UInt128 id)
    {
        Span<byte> b = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(b, id);
        return new Guid(b, bigEndian: true);
    }

    public static UInt128 FromUuid(Guid g)
    {
        Span<byte> b = stackalloc byte[16];
        g.TryWriteBytes(b, bigEndian: true, out _);
        return BinaryPrimitives.ReadUInt128BigEndian(b);
    }

    public static BigInteger ToNumeric(UInt128 v) => v;

    public static UInt128 FromNumeric(BigInteger v) => (UInt128)v;

    public static Transfer ReadTransfer(NpgsqlDataReader r, out PendingState? state)
    {
        state = r.IsDBNull(10) ? null : (PendingState)r.GetInt16(10);
        return new Transfer
        {
            Id = FromUuid(r.GetGuid(0)),
            DebitAccountId = FromUuid(r.GetGuid(1)),
            CreditAccountId = FromUuid(r.GetGuid(2)),
            Amount = FromNumeric(r.GetFieldValue<BigInteger>(3)),
            PendingId = r.IsDBNull(4) ? UInt128.Zero : FromUuid(r.GetGuid(4)),
            Ledger = (uint)r.GetInt64(5),
            Code = (ushort)r.GetInt32(6),
            Flags = (TransferFlags)r.GetInt32(7),
            TimeoutAt = r.IsDBNull(8) ? null : new DateTimeOffset(r.GetInt64(8), TimeSpan.Zero),
            CreatedAt = r.GetFieldValue<DateTimeOffset>(9),
        };
    }

    public static Account ReadAccount(NpgsqlDataReader r) => new()
    {
        Id = FromUuid(r.GetGuid(0)),
        Ledger = (uint)r.GetInt64(1),
        Code = (ushort)r.GetInt32(2),
        Flags = (AccountFlags)r.GetInt32(3),
        DebitLimit = FromNumeric(r.GetFieldValue<BigInteger>(4)),
        Name = r.GetString(5),
        DebitsPending = FromNumeric(r.GetFieldValue<BigInteger>(6)),
        DebitsPosted = FromNumeric(r.GetFieldValue<BigInteger>(7)),
        CreditsPending = FromNumeric(r.GetFieldValue<BigInteger>(8)),
        CreditsPosted = FromNumeric(r.GetFieldValue<BigInteger>(9)),
        CreatedAt = r.GetFieldValue<DateTimeOffset>(10),
    };

    public static NpgsqlParameter P<T>(T value) => new NpgsqlParameter<T> { TypedValue = value };

    public static NpgsqlParameter Numeric(UInt128 v) => new NpgsqlParameter<BigInteger> { TypedValue = v, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Numeric };

    public static NpgsqlParameter NumericArray(IEnumerable<UInt128> values) =>
        new NpgsqlParameter<BigInteger[]> { TypedValue = values.Select(ToNumeric).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Numeric };

    public static NpgsqlParameter UuidArray(IEnumerable<UInt128> ids) =>
        new NpgsqlParameter<Guid[]> { TypedValue = ids.Select(ToUuid).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Uuid };
}
