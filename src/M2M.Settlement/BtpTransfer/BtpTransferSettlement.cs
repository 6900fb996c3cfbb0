using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using M2M.Core.Ledger;
using M2M.Settlement.Coordination;
using Microsoft.Extensions.Logging;

namespace M2M.Settlement.BtpTransfer;

/// <summary>
/// The port the host implements: pays a connected peer by a BTP TRANSFER (RFC 23) and completes once the
/// peer answered RESPONSE (it booked it). <paramref name="idempotencyKey"/> travels with the TRANSFER so a
/// receiver of ours books a resend once; throws <see cref="SettlementFailedException"/> when the peer is
/// not connected or answered a BTP ERROR.
/// </summary>
public interface IPeerTransfers
{
    Task SendTransferAsync(string peerId, ulong amount, Guid idempotencyKey, CancellationToken ct);
}

/// <summary>settlement.method btp-transfer: we pay what we owe a peer by a BTP TRANSFER on its session.</summary>
public sealed class BtpTransferSettlementMethod(IPeerTransfers peers) : ISettlementMethod
{
    public const string MethodName = "btp-transfer";

    public string Name => MethodName;

    public async Task<SettlementReceipt> SettleAsync(SettlementRecord settlement, CancellationToken ct)
    {
        await peers.SendTransferAsync(settlement.PeerId, settlement.Amount, settlement.Id, ct).ConfigureAwait(false);
        return new SettlementReceipt($"btp-transfer:{settlement.Id}");
    }
}

/// <summary>A peer as the TRANSFER receiver needs it: whether it is trusted to settle this way, and its asset.</summary>
public sealed record BtpTransferPeer(string PeerId, bool AcceptTransfer, string AssetCode, byte AssetScale);

/// <summary>
/// Incoming BTP TRANSFER (issue 13 defect 1). A peer with settlement.acceptBtpTransfer is credited the amount
/// (settlement account → peer account) durably before the RESPONSE, once per request: the transfer id is
/// derived from the peer and our idempotency key when the sender gave one (our own btp-transfer method
/// does), else from the peer, the BTP request id and the amount, so a resend of the same request is booked
/// once. Any other peer is refused (the caller answers BTP ERROR F00 with the reason), logged once per peer.
/// </summary>
public sealed partial class BtpTransferReceiver(ILedger ledger, IEnumerable<BtpTransferPeer> peers, ILogger log)
{
    public const ushort TransferCode = TransferIds.BtpTransferCode;

    /// <summary>Protocol-data entry carrying the payer's idempotency key (16 bytes, a settlement id).</summary>
    public const string IdempotencyKeyProtocol = "m2m_idempotency_key";

    private readonly Dictionary<string, BtpTransferPeer> _peers = peers.ToDictionary(p => p.PeerId, StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _refusalLogged = new(StringComparer.Ordinal);

    /// <summary>The settlement accounts of the peers that may settle this way.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        var accounts = _peers.Values.Where(p => p.AcceptTransfer)
            .Select(p => PeerAccounts.SettlementAccount(p.AssetCode, p.AssetScale)).DistinctBy(a => a.Id).ToList();
        if (accounts.Count > 0) await ledger.CreateAccountsAsync(accounts, ct).ConfigureAwait(false);
    }

    /// <summary>Null when booked (now or before: a resend); else the reason to refuse it. Throws when the ledger fails (the caller answers T00, nothing booked).</summary>
    public async Task<string?> AcceptAsync(string peerId, uint requestId, ulong amount, ReadOnlyMemory<byte>? idempotencyKey, CancellationToken ct)
    {
        if (!_peers.TryGetValue(peerId, out var peer) || !peer.AcceptTransfer)
        {
            const string reason = "BTP TRANSFER is not accepted from this peer (settlement.acceptBtpTransfer is off)";
            if (_refusalLogged.TryAdd(peerId, 0)) LogRefused(peerId, amount);
            return reason;
        }
        if (amount == 0) return null;
        uint ledgerId = PeerAccounts.LedgerFor(peer.AssetCode, peer.AssetScale);
        var transfer = new Transfer
        {
            Id = TransferId(peerId, requestId, amount, idempotencyKey),
            DebitAccountId = PeerAccounts.SettlementAccount(peer.AssetCode, peer.AssetScale).Id,
            CreditAccountId = PeerAccounts.PeerAccountId(peerId, ledgerId),
            Amount = amount,
            Ledger = ledgerId,
            Code = TransferCode,
        };
        var result = (await ledger.CreateTransfersAsync([transfer], ct).ConfigureAwait(false))[0];
        if (result == CreateTransferResult.Ok) LogCredited(peerId, amount, $"{peer.AssetCode}/{peer.AssetScale}", requestId);
        else if (result == CreateTransferResult.Exists) LogResend(peerId, amount, requestId);
        else throw new InvalidOperationException($"the ledger refused the TRANSFER credit: {result}");
        return null;
    }

    /// <summary>The ledger id of a TRANSFER's credit: the same for a resend of the same request, so it is booked once.</summary>
    public static UInt128 TransferId(string peerId, uint requestId, ulong amount, ReadOnlyMemory<byte>? idempotencyKey)
    {
        string name = idempotencyKey is { Length: > 0 } key
            ? $"m2m:btp-transfer:{peerId}:key:{Convert.ToHexString(key.Span)}"
            : $"m2m:btp-transfer:{peerId}:request:{requestId}:{amount}";
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(name), hash);
        return new UInt128(BitConverter.ToUInt64(hash), BitConverter.ToUInt64(hash[8..]));
    }

    [LoggerMessage(EventId = 5150, Level = LogLevel.Information, Message = "BTP TRANSFER from {PeerId} booked: {Amount} {Asset} credited (request {RequestId})")]
    private partial void LogCredited(string peerId, ulong amount, string asset, uint requestId);

    [LoggerMessage(EventId = 5151, Level = LogLevel.Information, Message = "BTP TRANSFER from {PeerId} of {Amount} (request {RequestId}) was already booked: a resend, answered again without a second credit")]
    private partial void LogResend(string peerId, ulong amount, uint requestId);

    [LoggerMessage(EventId = 5152, Level = LogLevel.Warning, Message = "BTP TRANSFER from {PeerId} of {Amount} refused with F00: set peers[].settlement.acceptBtpTransfer: true to accept this peer's settlements by TRANSFER (logged once per peer)")]
    private partial void LogRefused(string peerId, ulong amount);
}
