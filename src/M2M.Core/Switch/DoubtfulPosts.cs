using M2M.Core.Ledger;

namespace M2M.Core.Switch;

/// <summary>
/// A Fulfill answered T00 while its post's outcome was unknown: everything needed to make the books
/// agree with that T00 later, even in another process. The reversal ids are chosen once, here, so a
/// resolution repeated after a crash finds them (Exists) instead of reversing twice.
/// </summary>
public sealed record DoubtfulPost
{
    public required UInt128 IncomingId { get; init; }
    public required UInt128 OutgoingId { get; init; }
    public required UInt128 IncomingDebit { get; init; }
    public required UInt128 IncomingCredit { get; init; }
    public required UInt128 OutgoingDebit { get; init; }
    public required UInt128 OutgoingCredit { get; init; }
    public required ulong Amount { get; init; }
    public required uint Ledger { get; init; }
    /// <summary>The outgoing leg's amount and ledger when an exchange converted the packet; null: the same as the incoming leg.</summary>
    public ulong? OutgoingAmount { get; init; }
    public uint? OutgoingLedger { get; init; }
    /// <summary>The ids of the post transfers that may or may not have committed (for audits).</summary>
    public required UInt128 PostIncomingId { get; init; }
    public required UInt128 PostOutgoingId { get; init; }
    public required UInt128 ReverseIncomingId { get; init; }
    public required UInt128 ReverseOutgoingId { get; init; }
    public required DateTimeOffset At { get; init; }

    /// <summary>The record for a pending pair and the post transfers tried for it; fresh reversal ids.</summary>
    public static DoubtfulPost For(Transfer incoming, Transfer outgoing, Transfer[] posts, DateTimeOffset at) => new()
    {
        IncomingId = incoming.Id,
        OutgoingId = outgoing.Id,
        IncomingDebit = incoming.DebitAccountId,
        IncomingCredit = incoming.CreditAccountId,
        OutgoingDebit = outgoing.DebitAccountId,
        OutgoingCredit = outgoing.CreditAccountId,
        Amount = checked((ulong)incoming.Amount),
        Ledger = incoming.Ledger,
        OutgoingAmount = outgoing.Amount == incoming.Amount && outgoing.Ledger == incoming.Ledger ? null : checked((ulong)outgoing.Amount),
        OutgoingLedger = outgoing.Amount == incoming.Amount && outgoing.Ledger == incoming.Ledger ? null : outgoing.Ledger,
        PostIncomingId = posts[0].Id,
        PostOutgoingId = posts[1].Id,
        ReverseIncomingId = PeerAccounts.NewTransferId(),
        ReverseOutgoingId = PeerAccounts.NewTransferId(),
        At = at,
    };
}

/// <summary>How a doubtful post ended.</summary>
public enum DoubtfulOutcome
{
    /// <summary>The reservation was voided now: the post had not committed.</summary>
    Voided,
    /// <summary>Already voided or expired (by the sweeper or an earlier attempt): nothing was posted.</summary>
    NotPosted,
    /// <summary>The post had committed: both transfers were reversed.</summary>
    Reversed,
}

/// <summary>
/// Durable list of doubtful posts (written only on the failure path). A record appended before the
/// T00 goes upstream stays open until <see cref="Resolved"/>; on start-up the open ones are resolved
/// again (<see cref="LedgerStep.ReplayDoubtfulPostsAsync"/>) and the journal compacted.
/// </summary>
public interface IDoubtfulPostJournal
{
    /// <summary>Appends and syncs the record; false (after logging why) if it could not be written.</summary>
    bool TryAppend(DoubtfulPost post);

    /// <summary>Appends and syncs "resolved" for the pair whose incoming pending transfer is <paramref name="incomingId"/>.</summary>
    void Resolved(UInt128 incomingId, DoubtfulOutcome outcome);

    /// <summary>Records appended and not yet resolved (this process's and those loaded at start-up).</summary>
    IReadOnlyList<DoubtfulPost> Open { get; }

    /// <summary>Rewrites the file with only the open records (write a temporary file, rename, sync the directory).</summary>
    void Compact();
}
