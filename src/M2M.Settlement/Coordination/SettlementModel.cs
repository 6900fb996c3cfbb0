namespace M2M.Settlement.Coordination;

/// <summary>pending → submitted → confirmed | failed (a failed attempt goes back to pending with a backoff).</summary>
public enum SettlementState
{
    Pending,
    Submitted,
    Confirmed,
    Failed,
}

/// <summary>One settlement of what we owe a peer. The id is the idempotency key toward the chain/engine and the ledger.</summary>
public sealed record SettlementRecord
{
    public required Guid Id { get; init; }
    public required string PeerId { get; init; }
    public required string Method { get; init; }
    /// <summary>In the peer's asset units (scale of its ledger).</summary>
    public required ulong Amount { get; init; }
    public required string Token { get; init; }
    public SettlementState State { get; init; }
    public int Attempts { get; init; }
    public string? LastError { get; init; }
    public string? Reference { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
    public DateTimeOffset NextAttemptAt { get; init; }

    public bool IsOpen => State is SettlementState.Pending or SettlementState.Submitted;
}

/// <summary>What a method reports after paying: a chain transaction hash, a claim id, an engine reference.</summary>
public sealed record SettlementReceipt(string Reference);

/// <summary>
/// A way to pay a peer (EVM channel claim, XRP claim, an RFC 38 settlement engine). Must be
/// idempotent by <see cref="SettlementRecord.Id"/>: the coordinator resends the same id after a
/// crash or a failed attempt, and the method must not pay twice for it.
/// </summary>
public interface ISettlementMethod
{
    string Name { get; }
    Task<SettlementReceipt> SettleAsync(SettlementRecord settlement, CancellationToken ct);
}

/// <summary>The method failed; the message is kept on the record and the attempt is retried with backoff.</summary>
public sealed class SettlementFailedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>When to settle a peer: once its posted balance reaches Threshold, bring it down to SettleTo.</summary>
public sealed record PeerSettlementPolicy(string PeerId, string Method, ulong Threshold, ulong SettleTo, string AssetCode, byte AssetScale)
{
    /// <summary>Automatic settlements start at least this far apart (requests by an operator are not limited).</summary>
    public TimeSpan MinInterval { get; init; }

    public string Token => $"{AssetCode}/{AssetScale}";
}
