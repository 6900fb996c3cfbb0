using System.Globalization;
using System.Numerics;
using M2M.Core.Ledger;
using M2M.Settlement.Coordination;
using Microsoft.Extensions.Logging;

namespace M2M.Settlement.Rfc38;

/// <summary>The asset of a peer's account (what an incoming settlement is credited in).</summary>
public sealed record PeerAsset(string PeerId, string AssetCode, byte AssetScale);

/// <summary>A settlement credited to a peer: the answer to the engine, the same for every resend of one key.</summary>
public sealed record IncomingCredit(string PeerId, string IdempotencyKey, ulong Credited, byte Scale, bool Replayed);

/// <summary>A credit request the API refuses (unknown peer, bad quantity): answered 400 with the message.</summary>
public sealed class IncomingSettlementException(string message) : Exception(message);

/// <summary>
/// RFC 38 "credit incoming settlement": our settlement engine tells us a peer paid us. Per
/// Idempotency-Key the credit is decided once, under the store's per-peer lock, and persisted with the
/// leftover sub-units (a quantity finer than the account's scale keeps its remainder for the next
/// settlement); then the ledger credits the peer (settlement account → peer account) under an id
/// derived from the key, so a resend, or a retry after a crash between the two commits, applies it once.
/// </summary>
public sealed partial class IncomingSettlements(ISettlementStore store, ILedger ledger, IReadOnlyDictionary<string, PeerAsset> peers, TimeProvider time, ILogger log)
{
    /// <summary>Credits <paramref name="amount"/> at <paramref name="scale"/> to the peer; idempotent by key.</summary>
    public async Task<IncomingCredit> CreditAsync(string peerId, string idempotencyKey, string amount, int scale, CancellationToken ct)
    {
        if (!peers.TryGetValue(peerId, out var peer)) throw new IncomingSettlementException($"peer '{peerId}' has no settlement engine configured (peers[].settlement.engineUrl)");
        if (string.IsNullOrWhiteSpace(idempotencyKey) || idempotencyKey.Length > 200) throw new IncomingSettlementException("the Idempotency-Key header is required (at most 200 characters)");
        if (!BigInteger.TryParse(amount, NumberStyles.None, CultureInfo.InvariantCulture, out var quantity)) throw new IncomingSettlementException($"amount '{amount}' is not a non-negative integer string");
        if (scale is < 0 or > 255) throw new IncomingSettlementException($"scale {scale} is not between 0 and 255");
        var record = await store.RecordIncomingAsync(peerId, idempotencyKey, quantity, (byte)scale,
            leftover => Convert(quantity, (byte)scale, leftover, peer.AssetScale), time.GetUtcNow(), ct).ConfigureAwait(false);
        if (record.Credited > 0)
        {
            uint ledgerId = PeerAccounts.LedgerFor(peer.AssetCode, peer.AssetScale);
            var transfer = new Transfer
            {
                Id = TransferIds.EngineCredit(peerId, idempotencyKey),
                DebitAccountId = PeerAccounts.SettlementAccount(peer.AssetCode, peer.AssetScale).Id,
                CreditAccountId = PeerAccounts.PeerAccountId(peerId, ledgerId),
                Amount = record.Credited,
                Ledger = ledgerId,
                Code = TransferIds.EngineCreditCode,
            };
            var result = (await ledger.CreateTransfersAsync([transfer], ct).ConfigureAwait(false))[0];
            if (!result.IsApplied()) throw new InvalidOperationException($"the ledger refused the incoming settlement credit: {result}");
        }
        if (!record.Replayed) LogCredited(peerId, idempotencyKey, amount, scale, record.Credited, peer.AssetScale);
        return record with { Scale = peer.AssetScale };
    }

    /// <summary>
    /// The units of the account's scale to credit for a quantity plus the peer's leftover, and the new leftover
    /// (kept at the finer of the two scales). Pure; exact.
    /// </summary>
    public static (ulong Credit, Leftover Left) Convert(BigInteger amount, byte scale, Leftover leftover, byte accountScale)
    {
        byte finest = Math.Max(scale, leftover.Scale);
        var total = amount * BigInteger.Pow(10, finest - scale) + leftover.Amount * BigInteger.Pow(10, finest - leftover.Scale);
        BigInteger credit, rest = BigInteger.Zero;
        if (finest <= accountScale) credit = total * BigInteger.Pow(10, accountScale - finest);
        else credit = BigInteger.DivRem(total, BigInteger.Pow(10, finest - accountScale), out rest);
        if (credit > ulong.MaxValue) throw new IncomingSettlementException($"amount {amount} at scale {scale} is more than the ledger can hold");
        return ((ulong)credit, rest.IsZero ? Leftover.None : new Leftover(rest, finest));
    }

    [LoggerMessage(EventId = 5010, Level = LogLevel.Information, Message = "Incoming settlement from {PeerId} (key {Key}): {Amount} at scale {Scale}, credited {Credited} at scale {AccountScale}")]
    private partial void LogCredited(string peerId, string key, string amount, int scale, ulong credited, byte accountScale);
}

/// <summary>Sub-units not yet credited, at their own scale.</summary>
public sealed record Leftover(BigInteger Amount, byte Scale)
{
    public static Leftover None { get; } = new(BigInteger.Zero, 0);
}
