using System.Data.Common;

namespace M2M.Settlement.Coordination;

/// <summary>
/// Reads one settlements row (columns id, peer_id, method, amount, token, state, attempts, last_error, reference,
/// created_at, updated_at, next_attempt_at) from either store: SQLite keeps the id as text and the u64 amount in
/// a signed INTEGER (same 64 bits); PostgreSQL has UUID and NUMERIC(20,0).
/// </summary>
internal static class SettlementRows
{
    public static SettlementRecord Read(DbDataReader r) => new()
    {
        Id = r.GetValue(0) is Guid g ? g : Guid.Parse(r.GetString(0)),
        PeerId = r.GetString(1),
        Method = r.GetString(2),
        Amount = r.GetValue(3) is long bits ? unchecked((ulong)bits) : (ulong)r.GetDecimal(3),
        Token = r.GetString(4),
        State = (SettlementState)Convert.ToInt32(r.GetValue(5), System.Globalization.CultureInfo.InvariantCulture),
        Attempts = Convert.ToInt32(r.GetValue(6), System.Globalization.CultureInfo.InvariantCulture),
        LastError = r.IsDBNull(7) ? null : r.GetString(7),
        Reference = r.IsDBNull(8) ? null : r.GetString(8),
        CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(9)),
        UpdatedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(10)),
        NextAttemptAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(11)),
    };
}
