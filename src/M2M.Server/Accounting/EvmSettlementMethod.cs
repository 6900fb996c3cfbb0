using System.Globalization;
using System.Numerics;
using System.Text.Json;
using System.Text.Json.Serialization;
using M2M.Btp;
using M2M.Server.Configuration;
using M2M.Settlement.Coordination;
using M2M.Settlement.Evm;

namespace M2M.Server.Accounting;

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

    public BtpProtocolData ToProtocolData() => new(ProtocolName, BtpContentType.ApplicationJson, JsonSerializer.SerializeToUtf8Bytes(this));

    /// <summary>1 unit of a scale-<paramref name="assetScale"/> asset in wei: 10^(18 − scale).</summary>
    public static BigInteger WeiPerUnit(byte assetScale) =>
        assetScale <= 18 ? BigInteger.Pow(10, 18 - assetScale) : throw new ArgumentOutOfRangeException(nameof(assetScale), "asset scale must be at most 18 for EVM settlement");
}

/// <summary>
/// Pays a peer with cumulative EIP-712 claims on a unidirectional channel (method "evm"). Opens the channel
/// with peers[].settlement.evm.depositWei on the first settlement, then per settlement raises the cumulative
/// amount (persisted before signing) and sends the claim over the peer's live BTP session. Idempotent by
/// settlement id: a resend sends the same stored claim, never a bigger one.
/// </summary>
public sealed class EvmSettlementMethod(ConnectorSettings settings, EvmChannelStore store, Func<string, BtpSession?> sessionOf, IPaymentChannelObserver? observer = null) : ISettlementMethod
{
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(30);
    private readonly SemaphoreSlim _gate = new(1, 1);

    public string Name => "evm";

    public EvmChannelStore Store => store;

    public async Task<SettlementReceipt> SettleAsync(SettlementRecord settlement, CancellationToken ct)
    {
        var peer = settings.Peers.FirstOrDefault(p => p.Id == settlement.PeerId) ?? throw new SettlementFailedException($"peer '{settlement.PeerId}' is not configured");
        var evm = peer.Settlement?.Evm ?? throw new SettlementFailedException($"peer '{peer.Id}' has no peers[].settlement.evm section");
        string key = settings.EvmPrivateKey ?? throw new SettlementFailedException("EVM_PRIVATE_KEY is not set");
        if (peer.AssetScale > 18) throw new SettlementFailedException($"peer '{peer.Id}' asset scale {peer.AssetScale} is above 18");

        EvmStoredClaim claim;
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            claim = store.ClaimFor(settlement.Id) ?? await NewClaimAsync(settlement, peer, evm, key, ct).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }

        var session = sessionOf(peer.Id);
        if (session is null || !session.IsOpen) throw new SettlementFailedException($"no live BTP session with peer '{peer.Id}' to send the claim on");
        var message = new EvmClaimMessage(claim.ChannelId, claim.CumulativeWei.ToString(CultureInfo.InvariantCulture), claim.Signature,
            settlement.Id.ToString(), evm.ChainId.ToString(CultureInfo.InvariantCulture), evm.Contract);
        BtpPacket reply;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(ReplyTimeout);
            reply = await session.SendMessageAsync([message.ToProtocolData()], timeout.Token).ConfigureAwait(false);
        }
        catch (BtpRemoteException e)
        {
            throw new SettlementFailedException($"peer '{peer.Id}' refused the claim: {e.Code} {e.DataText}", e);
        }
        catch (BtpException e)
        {
            throw new SettlementFailedException($"sending the claim to '{peer.Id}' failed: {e.Message}", e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new SettlementFailedException($"peer '{peer.Id}' did not answer the claim within {ReplyTimeout.TotalSeconds} s", e);
        }
        // A peer that does not know the sub-protocol acknowledges with an empty RESPONSE: that is no acceptance.
        if (!reply.TryGetProtocolData(EvmClaimMessage.ProtocolName, out _))
            throw new SettlementFailedException($"peer '{peer.Id}' acknowledged the claim without accepting it (does it support {EvmClaimMessage.ProtocolName}?)");
        return new SettlementReceipt($"evm:{claim.ChannelId}:{claim.CumulativeWei}");
    }

    private async Task<EvmStoredClaim> NewClaimAsync(SettlementRecord settlement, PeerSettings peer, EvmPeerSettings evm, string key, CancellationToken ct)
    {
        var client = new EvmChannelClient(evm.RpcUrl.ToString(), key, evm.ChainId, evm.Contract);
        var channel = store.Channel(peer.Id);
        if (channel is null)
        {
            EvmOpenResult opened;
            try
            {
                opened = await client.OpenChannelAsync(evm.PeerAddress, evm.DepositWei, evm.DisputePeriodSeconds, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is EvmChannelException or HttpRequestException or Nethereum.JsonRpc.Client.RpcClientUnknownException or Nethereum.JsonRpc.Client.RpcClientTimeoutException)
            {
                throw new SettlementFailedException($"opening a channel to '{peer.Id}' failed: {e.Message}", e);
            }
            store.SetChannel(peer.Id, opened.ChannelId);
            observer?.ChannelFunded(Name);
            channel = (opened.ChannelId, BigInteger.Zero);
        }
        var (channelId, cumulative) = channel.Value;
        BigInteger deposit;
        try
        {
            var state = await client.GetChannelAsync(channelId, ct).ConfigureAwait(false)
                ?? throw new SettlementFailedException($"channel {channelId} to '{peer.Id}' is not on chain");
            if (state.IsClosing) observer?.ChannelDisputed(Name, channelId);
            if (state.IsClosing || state.Finalized) throw new SettlementFailedException($"channel {channelId} to '{peer.Id}' is closing or closed");
            deposit = state.Deposit;
        }
        catch (Exception e) when (e is HttpRequestException or Nethereum.JsonRpc.Client.RpcClientUnknownException or Nethereum.JsonRpc.Client.RpcClientTimeoutException or Nethereum.JsonRpc.Client.RpcResponseException)
        {
            throw new SettlementFailedException($"reading channel {channelId} failed: {e.Message}", e);
        }
        var next = cumulative + settlement.Amount * EvmClaimMessage.WeiPerUnit(peer.AssetScale);
        if (next > deposit)
            throw new SettlementFailedException($"claim of {next} wei would exceed the channel deposit of {deposit} wei (channel {channelId}); top up the deposit");
        var claim = new EvmStoredClaim(peer.Id, channelId, next, EvmClaimSigner.Sign(key, new EvmClaimDomain(evm.ChainId, evm.Contract), channelId, next));
        store.RecordClaim(settlement.Id, claim);
        return claim;
    }
}
