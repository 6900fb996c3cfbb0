namespace M2M.Settlement.Xrp;

/// <summary>A payment channel as the ledger holds it (the PayChannel ledger entry; amounts in drops).</summary>
/// <param name="ChannelId">32-byte ledger index of the channel, hex.</param>
/// <param name="Account">Source (payer) classic address.</param>
/// <param name="Destination">Destination (payee) classic address.</param>
/// <param name="AmountDrops">Total XRP funded into the channel (its capacity).</param>
/// <param name="BalanceDrops">XRP already paid out to the destination.</param>
/// <param name="PublicKey">The key whose claims the channel honours, hex.</param>
/// <param name="SettleDelaySeconds">How long the source must wait after requesting close.</param>
/// <param name="Expiration">Close time set by a close request (seconds since the Ripple epoch), if any.</param>
/// <param name="CancelAfter">Immutable expiry (seconds since the Ripple epoch), if any.</param>
/// <param name="DestinationTag">Destination tag, if any.</param>
public sealed record XrpLedgerChannel(
    string ChannelId,
    string Account,
    string Destination,
    ulong AmountDrops,
    ulong BalanceDrops,
    string PublicKey,
    uint SettleDelaySeconds,
    uint? Expiration = null,
    uint? CancelAfter = null,
    uint? DestinationTag = null)
{
    public XrpChannelTerms Terms => new(ChannelId, PublicKey, AmountDrops);
}

/// <summary>PaymentChannelCreate fields (the submitting account is the source).</summary>
public sealed record XrpChannelCreateRequest(
    string Destination,
    ulong AmountDrops,
    uint SettleDelaySeconds,
    string PublicKey,
    uint? CancelAfter = null,
    uint? DestinationTag = null);

/// <summary>PaymentChannelFund fields (source only).</summary>
public sealed record XrpChannelFundRequest(string ChannelId, ulong AmountDrops, uint? Expiration = null);

/// <summary>PaymentChannelClaim flags.</summary>
[Flags]
public enum XrpChannelClaimFlags : uint
{
    None = 0,
    /// <summary>tfRenew (0x00010000): clear the channel's Expiration (source only).</summary>
    Renew = 0x00010000,
    /// <summary>tfClose (0x00020000): request to close the channel.</summary>
    Close = 0x00020000,
}

/// <summary>
/// PaymentChannelClaim fields. The destination redeems a claim with Balance = claim amount, Amount = claim amount,
/// Signature and PublicKey; the source may set Balance without a signature, and either side may set flags.
/// </summary>
public sealed record XrpChannelClaimRequest(
    string ChannelId,
    ulong? BalanceDrops = null,
    ulong? AmountDrops = null,
    string? Signature = null,
    string? PublicKey = null,
    XrpChannelClaimFlags Flags = XrpChannelClaimFlags.None)
{
    /// <summary>The request that redeems a signed claim.</summary>
    public static XrpChannelClaimRequest Redeem(XrpClaim claim, XrpChannelClaimFlags flags = XrpChannelClaimFlags.None)
    {
        ArgumentNullException.ThrowIfNull(claim);
        return new(claim.ChannelId, claim.Drops, claim.Drops, claim.Signature, claim.PublicKey, flags);
    }
}

/// <summary>The outcome of a submitted transaction.</summary>
/// <param name="EngineResult">rippled's result code, e.g. tesSUCCESS, tecUNFUNDED, temBAD_SIGNATURE.</param>
/// <param name="TransactionHash">The transaction's hash, hex, when it was signed.</param>
/// <param name="Validated">Whether the result is final (in a validated ledger).</param>
/// <param name="ChannelId">For a PaymentChannelCreate that succeeded, the new channel's id.</param>
public sealed record XrpTransactionResult(string EngineResult, string? TransactionHash, bool Validated, string? ChannelId = null)
{
    public bool Succeeded => EngineResult == "tesSUCCESS";
}

/// <summary>
/// The on-ledger side of XRP payment channels (PaymentChannelCreate / Fund / Claim and reading the PayChannel entry).
/// Implementations sign with the account's key and submit to a rippled server; none ships here (see README.md in this folder).
/// </summary>
public interface IXrpChannelLedger
{
    /// <summary>The channel's current ledger entry (ledger_entry payment_channel), or null if it does not exist (or was closed).</summary>
    Task<XrpLedgerChannel?> GetChannelAsync(string channelId, CancellationToken cancellationToken = default);

    /// <summary>PaymentChannelCreate from this account; on success the result carries the new channel id.</summary>
    Task<XrpTransactionResult> CreateChannelAsync(XrpChannelCreateRequest request, CancellationToken cancellationToken = default);

    /// <summary>PaymentChannelFund: adds XRP to a channel this account owns (optionally extending its Expiration).</summary>
    Task<XrpTransactionResult> FundChannelAsync(XrpChannelFundRequest request, CancellationToken cancellationToken = default);

    /// <summary>PaymentChannelClaim: redeems a claim, and/or requests close or renew.</summary>
    Task<XrpTransactionResult> ClaimAsync(XrpChannelClaimRequest request, CancellationToken cancellationToken = default);
}
