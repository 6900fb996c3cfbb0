using System.Globalization;
using System.Numerics;
using System.Text.Json;
using System.Text.Json.Serialization;
using M2M.Settlement.Coordination;

namespace M2M.Settlement.Evm;

/// <summary>The "payment-channel-claim" BTP sub-protocol message (payer → receiver).</summary>
public sealed record EvmClaimMessage(
    [property: JsonPropertyName("channelId")] string ChannelId,
    [property: JsonPropertyName("cumulativeAmount")] string CumulativeAmount,
    [property: JsonPropertyName("signature")] string Signature,
    [property: JsonPropertyName("settlementId")] string SettlementId,
    [property: JsonPropertyName("chainId")] string ChainId,
    [property: JsonPropertyName("contract")] string Contract)
{
    public const string ProtocolName = "payment-channel-claim";

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this);

    /// <summary>1 unit of a scale-<paramref name="assetScale"/> asset in wei: 10^(18 − scale).</summary>
    public static BigInteger WeiPerUnit(byte assetScale) =>
        assetScale <= 18 ? BigInteger.Pow(10, 18 - assetScale) : throw new ArgumentOutOfRangeException(nameof(assetScale), "asset scale must be at most 18 for EVM settlement");
}

/// <summary>
/// Pays a peer with cumulative EIP-712 claims on a unidirectional channel (method "evm"), in ETH or, with
/// peers[].settlement.evm.token, in that ERC-20 token. Opens the channel
/// with peers[].settlement.evm.depositWei (wei or token base units; a token is approved first) on the first settlement, then per settlement raises the cumulative
/// amount (persisted before signing) and sends the claim over the peer's live BTP session. Idempotent by
/// settlement id: a resend sends the same stored claim, never a bigger one. The claim goes to the peer through
/// the host's <see cref="IPeerMessenger"/> (a BTP MESSAGE on the peer's live session).
/// </summary>
public sealed class EvmSettlementMethod(Func<string, EvmPeer?> peerOf, string? privateKey, EvmChannelStore store, IPeerMessenger messenger, IPaymentChannelObserver? observer = null) : ISettlementMethod
{
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(30);
    private readonly SemaphoreSlim _gate = new(1, 1);

    public string Name => "evm";

    public EvmChannelStore Store => store;

    public async Task<SettlementReceipt> SettleAsync(SettlementRecord settlement, CancellationToken ct)
    {
        var peer = peerOf(settlement.PeerId) ?? throw new SettlementFailedException($"peer '{settlement.PeerId}' has no peers[].settlement.evm section");
        var evm = peer.Evm;
        string key = privateKey ?? throw new SettlementFailedException("EVM_PRIVATE_KEY is not set");
        if (evm.Token is null && peer.AssetScale > 18) throw new SettlementFailedException($"peer '{peer.Id}' asset scale {peer.AssetScale} is above 18");

        EvmStoredClaim claim;
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            // Across nodes sharing the store: one signs for this peer at a time (the settlement lease already
            // serializes the payer; this also covers a lease that ran out while a slow chain call was pending).
            await using var peerLock = await store.LockPeerAsync("payer", peer.Id, ct).ConfigureAwait(false);
            claim = store.ClaimFor(settlement.Id) ?? await NewClaimAsync(settlement, peer, evm, key, ct).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }

        var message = new EvmClaimMessage(claim.ChannelId, claim.CumulativeWei.ToString(CultureInfo.InvariantCulture), claim.Signature,
            settlement.Id.ToString(), evm.ChainId.ToString(CultureInfo.InvariantCulture), evm.Contract);
        ReadOnlyMemory<byte>? reply;
        try
        {
            reply = await messenger.SendAsync(peer.Id, EvmClaimMessage.ProtocolName, message.ToJson(), ReplyTimeout, ct).ConfigureAwait(false);
        }
        catch (PeerMessageException e)
        {
            throw new SettlementFailedException(e.Refused ? $"peer '{peer.Id}' refused the claim: {e.Message}" : $"sending the claim to '{peer.Id}' failed: {e.Message}", e);
        }
        // A peer that does not know the sub-protocol acknowledges with an empty RESPONSE: that is no acceptance.
        if (reply is null)
            throw new SettlementFailedException($"peer '{peer.Id}' acknowledged the claim without accepting it (does it support {EvmClaimMessage.ProtocolName}?)");
        observer?.ClaimSent(Name, peer.Id, claim.ChannelId, claim.CumulativeWei.ToString(CultureInfo.InvariantCulture), settlement.Amount);
        return new SettlementReceipt($"evm:{claim.ChannelId}:{claim.CumulativeWei}");
    }

    private async Task<EvmStoredClaim> NewClaimAsync(SettlementRecord settlement, EvmPeer peer, EvmPeerSettings evm, string key, CancellationToken ct)
    {
        var client = evm.Client(key);
        string unit = evm.Token is null ? "wei" : $"base units of token {evm.Token}";
        BigInteger perLedgerUnit;
        try
        {
            perLedgerUnit = await EvmChannelUnits.PerLedgerUnitAsync(peer, client, ct).ConfigureAwait(false);
        }
        catch (InvalidOperationException e)
        {
            throw new SettlementFailedException(e.Message, e); // the asset scale is finer than the token's decimals
        }
        catch (Exception e) when (e is HttpRequestException or Nethereum.JsonRpc.Client.RpcClientUnknownException
                                       or Nethereum.JsonRpc.Client.RpcClientTimeoutException or Nethereum.JsonRpc.Client.RpcResponseException
                                       or Nethereum.ABI.FunctionEncoding.SmartContractRevertException)
        {
            throw new SettlementFailedException($"reading the decimals of token {evm.Token} for '{peer.Id}' failed: {e.Message}", e);
        }
        var channel = store.Channel(peer.Id);
        if (channel is null)
        {
            EvmOpenResult opened;
            try
            {
                opened = await client.OpenChannelAsync(evm.PeerAddress, evm.DepositWei, evm.DisputePeriodSeconds, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is EvmChannelException or HttpRequestException or Nethereum.JsonRpc.Client.RpcClientUnknownException or Nethereum.JsonRpc.Client.RpcClientTimeoutException or Nethereum.JsonRpc.Client.RpcResponseException)
            {
                throw new SettlementFailedException($"opening a channel to '{peer.Id}' failed: {e.Message}", e);
            }
            store.SetChannel(peer.Id, opened.ChannelId);
            observer?.ChannelFunded(Name, evm.Asset);
            observer?.ChannelOpened(Name, peer.Id, opened.ChannelId, evm.DepositWei.ToString(CultureInfo.InvariantCulture));
            channel = store.Channel(peer.Id) ?? throw new InvalidOperationException($"channel {opened.ChannelId} to '{peer.Id}' was not recorded");
        }
        var (channelId, cumulative) = channel.Value;
        BigInteger deposit;
        try
        {
            var state = await client.GetChannelAsync(channelId, ct).ConfigureAwait(false)
                ?? throw new SettlementFailedException($"channel {channelId} to '{peer.Id}' is not on chain");
            if (state.IsClosing) observer?.ChannelDisputed(Name, channelId);
            if (state.Finalized) observer?.ChannelClosed(Name, channelId);
            if (state.IsClosing || state.Finalized) throw new SettlementFailedException($"channel {channelId} to '{peer.Id}' is closing or closed");
            if (evm.Token is not null && !EvmClaimEncoding.SameAddress(state.Token ?? "", evm.Token))
                throw new SettlementFailedException($"channel {channelId} to '{peer.Id}' pays token {state.Token}, not the configured {evm.Token}");
            deposit = state.Deposit;
        }
        catch (Exception e) when (e is HttpRequestException or Nethereum.JsonRpc.Client.RpcClientUnknownException or Nethereum.JsonRpc.Client.RpcClientTimeoutException or Nethereum.JsonRpc.Client.RpcResponseException)
        {
            throw new SettlementFailedException($"reading channel {channelId} failed: {e.Message}", e);
        }
        var next = cumulative + settlement.Amount * perLedgerUnit;
        if (next > deposit)
            throw new SettlementFailedException($"claim of {next} {unit} would exceed the channel deposit of {deposit} {unit} (channel {channelId}); top up the deposit");
        var claim = new EvmStoredClaim(peer.Id, channelId, next, EvmClaimSigner.Sign(key, new EvmClaimDomain(evm.ChainId, evm.Contract), channelId, next));
        // Signed only over the amount read above, and recorded with the settlement still open, in one transaction.
        return store.RecordClaim(settlement.Id, claim, expectedWei: cumulative);
    }
}
