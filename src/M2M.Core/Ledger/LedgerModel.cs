namespace M2M.Core.Ledger;

// The ledger API mirrors TigerBeetle's accounts and transfers (RELIABILITY.md design rule 1):
// accounts carry debits/credits × pending/posted; transfers are immutable, identified by a
// client-chosen 128-bit id (the idempotency key); two-phase transfers are a pending transfer
// followed by a post_pending or void_pending transfer that names it by pending_id.
// Our one extension: an account may carry a DebitLimit (a peer's credit limit).

[Flags]
public enum AccountFlags : ushort
{
    None = 0,
    /// <summary>debits_pending + debits_posted + amount must stay ≤ credits_posted + DebitLimit.</summary>
    DebitsMustNotExceedCredits = 1 << 1,
    /// <summary>credits_pending + credits_posted + amount must stay ≤ debits_posted.</summary>
    CreditsMustNotExceedDebits = 1 << 2,
}

/// <summary>An account's state. Amounts are UInt128 as in TigerBeetle; never floating point.</summary>
public sealed record Account
{
    public required UInt128 Id { get; init; }
    /// <summary>The asset: transfers only move value between accounts of the same ledger.</summary>
    public required uint Ledger { get; init; }
    public required ushort Code { get; init; }
    public AccountFlags Flags { get; init; }
    /// <summary>With <see cref="AccountFlags.DebitsMustNotExceedCredits"/>: how far debits may exceed credits.</summary>
    public UInt128 DebitLimit { get; init; }
    /// <summary>Free text for operators (e.g. "peer:alice"); not interpreted by the ledger.</summary>
    public string Name { get; init; } = "";
    public UInt128 DebitsPending { get; init; }
    public UInt128 DebitsPosted { get; init; }
    public UInt128 CreditsPending { get; init; }
    public UInt128 CreditsPosted { get; init; }
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>credits_posted − debits_posted as a signed value (what the connector owes the peer when positive).</summary>
    public Int128 PostedBalance => (Int128)CreditsPosted - (Int128)DebitsPosted;
}

[Flags]
public enum TransferFlags : ushort
{
    None = 0,
    /// <summary>Atomic with the next transfer in the batch: all of a linked chain applies or none.</summary>
    Linked = 1 << 0,
    Pending = 1 << 1,
    PostPending = 1 << 2,
    VoidPending = 1 << 3,
}

/// <summary>An immutable transfer. For post/void, the accounts, ledger and amount come from the pending transfer.</summary>
public sealed record Transfer
{
    public required UInt128 Id { get; init; }
    public UInt128 DebitAccountId { get; init; }
    public UInt128 CreditAccountId { get; init; }
    /// <summary>For a post: 0 or the pending amount (partial posts are not supported).</summary>
    public UInt128 Amount { get; init; }
    public UInt128 PendingId { get; init; }
    public uint Ledger { get; init; }
    public ushort Code { get; init; }
    public TransferFlags Flags { get; init; }
    /// <summary>For a pending transfer: when it expires and is voided (absolute, connector clock).</summary>
    public DateTimeOffset? TimeoutAt { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>State of a pending transfer.</summary>
public enum PendingState : byte
{
    Open = 0,
    Posted = 1,
    Voided = 2,
    Expired = 3,
}

public enum CreateAccountResult
{
    Ok,
    Exists,
    ExistsWithDifferentFields,
    IdMustNotBeZero,
    LedgerMustNotBeZero,
}

/// <summary>Outcome of one transfer, as a value (TigerBeetle's CreateTransferResult, trimmed).</summary>
public enum CreateTransferResult
{
    Ok,
    /// <summary>Same id, same fields: already applied once; nothing changed now.</summary>
    Exists,
    ExistsWithDifferentFields,
    /// <summary>Another transfer of the linked chain failed, so this one was not applied.</summary>
    LinkedEventFailed,
    /// <summary>The last transfer of a batch has Linked set: the chain is open.</summary>
    LinkedEventChainOpen,
    IdMustNotBeZero,
    AccountsMustBeDifferent,
    DebitAccountNotFound,
    CreditAccountNotFound,
    LedgerMustMatch,
    AmountMustNotBeZero,
    FlagsAreMutuallyExclusive,
    PendingTransferNotFound,
    PendingTransferNotPending,
    PendingTransferAlreadyPosted,
    PendingTransferAlreadyVoided,
    PendingTransferExpired,
    AmountMustMatchPending,
    TimeoutRequiredForPending,
    /// <summary>The debit account's limit would be exceeded (the connector answers T04).</summary>
    ExceedsCredits,
    ExceedsDebits,
    Overflow,
}

/// <summary>The store could not be reached or failed to commit; nothing of the batch was applied.</summary>
public sealed class LedgerUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

public static class LedgerResults
{
    /// <summary>Ok, or Exists for a retried id: the transfer is in the ledger.</summary>
    public static bool IsApplied(this CreateTransferResult r) => r is CreateTransferResult.Ok or CreateTransferResult.Exists;
}
