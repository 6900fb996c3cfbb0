namespace M2M.Settlement.Evm;

/// <summary>
/// Payment channel events, for metrics (payment_channels_funded_total, payment_channels_disputes_total)
/// and the Explorer's channel timeline. The detailed events have empty defaults so an observer takes
/// only what it needs. Called on the settlement path: implementations only count or queue.
/// </summary>
public interface IPaymentChannelObserver
{
    /// <summary>We funded a channel (opened it with a deposit) in <paramref name="asset"/> ("ETH" or the ERC-20 token's address).</summary>
    void ChannelFunded(string method, string asset);

    /// <summary>A channel we pay or are paid by was found in its dispute period (closing); reported once per channel and process.</summary>
    void ChannelDisputed(string method, string channelId);

    /// <summary>We opened <paramref name="channelId"/> to <paramref name="peerId"/> with a deposit of <paramref name="depositWei"/>.</summary>
    void ChannelOpened(string method, string peerId, string channelId, string depositWei)
    {
    }

    /// <summary>The peer accepted our claim: <paramref name="cumulativeWei"/> in all on the channel, for a settlement of <paramref name="amount"/> units.</summary>
    void ClaimSent(string method, string peerId, string channelId, string cumulativeWei, ulong amount)
    {
    }

    /// <summary>We accepted the peer's claim and credited <paramref name="amount"/> units.</summary>
    void ClaimReceived(string method, string peerId, string channelId, string cumulativeWei, ulong amount)
    {
    }

    /// <summary>A channel was found finalized on chain (closed).</summary>
    void ChannelClosed(string method, string channelId)
    {
    }
}
