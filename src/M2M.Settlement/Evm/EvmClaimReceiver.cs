using System.Globalization;
using System.Numerics;
using System.Text.Json;
using M2M.Core.Ledger;
using Microsoft.Extensions.Logging;

namespace M2M.Settlement.Evm;

/// <summary>
/// Accepts "payment-channel-claim" MESSAGEs from peers with peers[].settlement.evm: checks the channel on chain
/// (recipient = us, sender = peerAddress, and with peers[].settlement.evm.token the channel's token = that token),
/// verifies the claim, credits the peer's ledger account by the increase
/// (from the settlement account; transfer id derived from channel and amount, so a duplicate is applied once) and
/// keeps the latest claim in the settlement store (evm_claims) for <see cref="RedeemAsync"/>. Anything invalid throws, which the BTP
/// session answers with an ERROR F00 naming the reason.
/// </summary>
public sealed partial class EvmClaimReceiver(IReadOnlyList<EvmPeer> peers, string? privateKey, ILedger ledger, EvmClaimStore store, TimeProvider time, ILogger log, IPaymentChannelObserver? observer = null) : IDisposable
{
    public const ushort ClaimTransferCode = TransferIds.ClaimCode;
    private readonly SemaphoreSlim _gate = new(1, 1);

    public EvmClaimStore Store => store;

    /// <summary>Creates the settlement account of every asset a peer may settle to us in.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        var accounts = peers.Select(p => PeerAccounts.SettlementAccount(p.AssetCode, p.AssetScale)).DistinctBy(a => a.Id).ToList();
        if (accounts.Count > 0) await ledger.CreateAccountsAsync(accounts, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Incoming sub-protocol message from an authenticated peer (the host calls this from its BTP hook): null for
    /// other protocols (a plain acknowledgement); the acceptance JSON for a valid claim; throws when invalid.
    /// </summary>
    public async ValueTask<ReadOnlyMemory<byte>?> HandleAsync(string peerId, string protocol, ReadOnlyMemory<byte> data)
    {
        if (protocol != EvmClaimMessage.ProtocolName) return null;
        var accepted = await AcceptAsync(peerId, data, CancellationToken.None).ConfigureAwait(false);
        return JsonSerializer.SerializeToUtf8Bytes(new { accepted = true, channelId = accepted.ChannelId, cumulativeAmount = accepted.CumulativeWei.ToString(CultureInfo.InvariantCulture) });
    }

    /// <summary>Verifies and applies one claim from an authenticated peer; throws <see cref="EvmClaimRejectedException"/> when invalid.</summary>
    public async Task<EvmStoredClaim> AcceptAsync(string peerId, ReadOnlyMemory<byte> json, CancellationToken ct)
    {
        var peer = peers.FirstOrDefault(p => p.Id == peerId);
        var evm = peer?.Evm ?? throw Reject(peerId, $"peer '{peerId}' has no EVM settlement configured");
        string key = privateKey ?? throw Reject(peerId, "this connector has no EVM key");
        EvmClaimMessage? m;
        try
        {
            m = JsonSerializer.Deserialize<EvmClaimMessage>(json.Span);
        }
        catch (JsonException)
        {
            m = null;
        }
        if (m is null || m.ChannelId is null || m.CumulativeAmount is null || m.Signature is null || m.ChainId is null || m.Contract is null)
            throw Reject(peerId, "malformed claim: expected JSON {channelId, cumulativeAmount, signature, settlementId, chainId, contract}");
        if (!BigInteger.TryParse(m.CumulativeAmount, NumberStyles.None, CultureInfo.InvariantCulture, out var cumulative))
            throw Reject(peerId, evm.Token is null ? "cumulativeAmount is not a decimal number of wei" : "cumulativeAmount is not a decimal number of token base units");
        if (m.ChainId != evm.ChainId.ToString(CultureInfo.InvariantCulture)) throw Reject(peerId, $"wrong chain id {m.ChainId}; expected {evm.ChainId}");
        if (!string.Equals(m.Contract, evm.Contract, StringComparison.OrdinalIgnoreCase)) throw Reject(peerId, $"wrong contract {m.Contract}; expected {evm.Contract}");

        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            // Nodes sharing the store take the peer's claims one at a time: read last, credit, save.
            await using var peerLock = await store.LockPeerAsync("receiver", peerId, ct).ConfigureAwait(false);
            var client = evm.Client(key);
            EvmChannelState? channel;
            try
            {
                channel = await client.GetChannelAsync(m.ChannelId, ct).ConfigureAwait(false);
            }
            catch (ArgumentException)
            {
                throw Reject(peerId, "malformed channel id");
            }
            if (channel is null) throw Reject(peerId, $"channel {m.ChannelId} does not exist on chain");
            if (!string.Equals(channel.Recipient, client.AccountAddress, StringComparison.OrdinalIgnoreCase)) throw Reject(peerId, $"channel {m.ChannelId} does not pay us");
            if (!string.Equals(channel.Sender, evm.PeerAddress, StringComparison.OrdinalIgnoreCase)) throw Reject(peerId, $"channel {m.ChannelId} is not from the peer's address");
            // A TokenChannel channel pays only its own token: a claim on a channel of another token is worth nothing to us.
            if (evm.Token is not null && !string.Equals(channel.Token, evm.Token, StringComparison.OrdinalIgnoreCase))
                throw Reject(peerId, $"channel {m.ChannelId} pays token {channel.Token}, not {evm.Token}");
            if (channel.IsClosing) observer?.ChannelDisputed("evm", m.ChannelId);
            if (channel.Finalized) observer?.ChannelClosed("evm", m.ChannelId);
            if (channel.IsClosing || channel.Finalized) throw Reject(peerId, $"channel {m.ChannelId} is closing or closed");

            var domain = new EvmClaimDomain(evm.ChainId, evm.Contract);
            var last = store.Latest(peerId, m.ChannelId);
            var lastWei = BigInteger.Max(last?.CumulativeWei ?? 0, channel.Claimed);
            if (cumulative <= lastWei && cumulative > 0)
            {
                // A resend of a claim already accepted: acknowledge once its signature checks out, credit nothing.
                var dup = EvmClaimVerifier.Verify(domain, m.ChannelId, cumulative, m.Signature, evm.PeerAddress, cumulative - 1, channel.Deposit);
                if (!dup.IsValid) throw Reject(peerId, $"invalid claim: {dup.Status}");
                return new EvmStoredClaim(peerId, m.ChannelId, cumulative, m.Signature);
            }
            var result = EvmClaimVerifier.Verify(domain, m.ChannelId, cumulative, m.Signature, evm.PeerAddress, lastWei, channel.Deposit);
            if (!result.IsValid) throw Reject(peerId, $"invalid claim: {result.Status}");

            BigInteger weiPerUnit;
            try
            {
                weiPerUnit = await EvmChannelUnits.PerLedgerUnitAsync(peer!, client, ct).ConfigureAwait(false);
            }
            catch (InvalidOperationException e)
            {
                throw Reject(peerId, e.Message);
            }
            var increase = BigInteger.DivRem(cumulative - lastWei, weiPerUnit, out var remainder);
            if (!remainder.IsZero)
                throw Reject(peerId, $"claim increase is not a whole number of {peer!.AssetCode}/{peer.AssetScale} units ({weiPerUnit} {(evm.Token is null ? "wei" : "token base units")} each)");
            if (increase > ulong.MaxValue) throw Reject(peerId, "claim increase is too large");

            uint ledgerId = PeerAccounts.LedgerFor(peer!.AssetCode, peer.AssetScale);
            var transfer = new Transfer
            {
                Id = TransferId(m.ChannelId, cumulative),
                DebitAccountId = PeerAccounts.SettlementAccount(peer.AssetCode, peer.AssetScale).Id,
                CreditAccountId = PeerAccounts.PeerAccountId(peerId, ledgerId),
                Amount = (ulong)increase,
                Ledger = ledgerId,
                Code = ClaimTransferCode,
            };
            var applied = (await ledger.CreateTransfersAsync([transfer], ct).ConfigureAwait(false))[0];
            if (!applied.IsApplied()) throw new InvalidOperationException($"the ledger refused the settlement credit: {applied}");
            var claim = new EvmStoredClaim(peerId, m.ChannelId, cumulative, m.Signature);
            store.Save(claim, time.GetUtcNow());
            LogAccepted(peerId, m.ChannelId, cumulative.ToString(CultureInfo.InvariantCulture), (ulong)increase);
            observer?.ClaimReceived("evm", peerId, m.ChannelId, cumulative.ToString(CultureInfo.InvariantCulture), (ulong)increase);
            return claim;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Redeems the peer's latest accepted claim on chain (we are the channel's recipient).</summary>
    public async Task<EvmClaimResult> RedeemAsync(string peerId, CancellationToken ct)
    {
        var evm = peers.FirstOrDefault(p => p.Id == peerId)?.Evm ?? throw new InvalidOperationException($"peer '{peerId}' has no EVM settlement configured");
        string key = privateKey ?? throw new InvalidOperationException("EVM_PRIVATE_KEY is not set");
        var claim = store.Latest(peerId) ?? throw new InvalidOperationException($"no claim from '{peerId}' to redeem");
        var client = evm.Client(key);
        return await client.ClaimAsync(claim.ChannelId, claim.CumulativeWei, claim.Signature, ct).ConfigureAwait(false);
    }

    /// <summary>The asset of the channel the peer pays us on: "ETH" or the ERC-20 token's address; null when the peer has no EVM settlement.</summary>
    public string? AssetOf(string peerId) => peers.FirstOrDefault(p => p.Id == peerId)?.Evm.Asset;

    /// <summary>The ledger transfer id of a claim: the same claim always maps to the same transfer.</summary>
    public static UInt128 TransferId(string channelId, BigInteger cumulative) => TransferIds.EvmClaim(channelId, cumulative);

    private EvmClaimRejectedException Reject(string peerId, string reason)
    {
        LogRejected(peerId, reason);
        return new EvmClaimRejectedException(reason);
    }

    public void Dispose()
    {
        store.Dispose();
        _gate.Dispose();
    }

    [LoggerMessage(EventId = 5101, Level = LogLevel.Information, Message = "EVM claim from {PeerId} accepted: channel {ChannelId}, cumulative {CumulativeWei} wei, credited {Amount}")]
    private partial void LogAccepted(string peerId, string channelId, string cumulativeWei, ulong amount);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Warning, Message = "EVM claim from {PeerId} rejected: {Reason}")]
    private partial void LogRejected(string peerId, string reason);
}

/// <summary>A claim the receiver refuses; the message is the reason sent back in the BTP ERROR.</summary>
public sealed class EvmClaimRejectedException(string reason) : Exception(reason);
