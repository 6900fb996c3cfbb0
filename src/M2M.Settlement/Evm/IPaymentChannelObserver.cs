namespace M2M.Settlement.Evm;

/// <summary>Payment channel events, for metrics (payment_channels_funded_total, payment_channels_disputes_total).</summary>
public interface IPaymentChannelObserver
{
    /// <summary>We funded a channel (opened it with a deposit) in <paramref name="asset"/> ("ETH" or the ERC-20 token's address).</summary>
    void ChannelFunded(string method, string asset);

    /// <summary>A channel we pay or are paid by was found in its dispute period (closing); reported once per channel and process.</summary>
    void ChannelDisputed(string method, string channelId);
}
