namespace M2M.Settlement.Evm;

/// <summary>
/// peers[].settlement.evm. As payer we open a channel on <see cref="Contract"/> to <see cref="PeerAddress"/>
/// with <see cref="DepositWei"/>; as receiver we accept claims signed by <see cref="PeerAddress"/>.
/// Without <see cref="Token"/> the channel pays ETH (a UnidirectionalChannel contract, amounts in wei); with it,
/// the ERC-20 token at that address (a TokenChannel contract, <see cref="DepositWei"/> and claims in token base units).
/// </summary>
public sealed record EvmPeerSettings
{
    public required Uri RpcUrl { get; init; }
    public required System.Numerics.BigInteger ChainId { get; init; }
    public required string Contract { get; init; }
    public required string PeerAddress { get; init; }
    public System.Numerics.BigInteger DepositWei { get; init; }
    public ulong DisputePeriodSeconds { get; init; } = 86_400;

    /// <summary>The ERC-20 token the channel pays, or null for ETH.</summary>
    public string? Token { get; init; }

    /// <summary>The channel's asset for metrics and messages: "ETH" or the token's address (lower case).</summary>
    public string Asset => Token is null ? "ETH" : Token.ToLowerInvariant();

    /// <summary>A channel client for this peer's contract (and token) acting as the account of <paramref name="privateKey"/>.</summary>
    public EvmChannelClient Client(string privateKey) => new(RpcUrl.ToString(), privateKey, ChainId, Contract, token: Token);
}

/// <summary>A peer that settles over an EVM channel: its id, its asset and its channel settings.</summary>
public sealed record EvmPeer(string Id, string AssetCode, byte AssetScale, EvmPeerSettings Evm);

/// <summary>Converts between ledger units of a peer's asset and the channel asset's smallest unit.</summary>
public static class EvmChannelUnits
{
    /// <summary>
    /// How many of the channel's smallest units one ledger unit is: 10^(18 − scale) wei for ETH, 10^(decimals − scale)
    /// token base units for an ERC-20 channel (decimals read from the token). Throws <see cref="InvalidOperationException"/>
    /// when the asset scale is finer than the channel asset can express or the token address holds no contract.
    /// </summary>
    public static async Task<System.Numerics.BigInteger> PerLedgerUnitAsync(EvmPeer peer, EvmChannelClient client, CancellationToken ct)
    {
        if (peer.Evm.Token is null)
        {
            if (peer.AssetScale > 18) throw new InvalidOperationException($"peer '{peer.Id}' asset scale {peer.AssetScale} is above ETH's 18 decimals");
            return EvmClaimMessage.WeiPerUnit(peer.AssetScale);
        }
        // Without this, decimals() on an address with no code reads as 0 instead of failing.
        if (!await client.HasCodeAsync(peer.Evm.Token, ct).ConfigureAwait(false))
            throw new InvalidOperationException($"token {peer.Evm.Token} of peer '{peer.Id}' has no contract code on chain {peer.Evm.ChainId} (wrong address or wrong chain?)");
        byte decimals = await client.GetTokenDecimalsAsync(ct).ConfigureAwait(false);
        if (peer.AssetScale > decimals)
            throw new InvalidOperationException($"peer '{peer.Id}' asset scale {peer.AssetScale} is above the token's {decimals} decimals ({peer.Evm.Token})");
        return System.Numerics.BigInteger.Pow(10, decimals - peer.AssetScale);
    }
}
