namespace M2M.Settlement.Evm;

/// <summary>
/// peers[].settlement.evm. As payer we open a channel on <see cref="Contract"/> to <see cref="PeerAddress"/>
/// with <see cref="DepositWei"/>; as receiver we accept claims signed by <see cref="PeerAddress"/>.
/// </summary>
public sealed record EvmPeerSettings
{
    public required Uri RpcUrl { get; init; }
    public required System.Numerics.BigInteger ChainId { get; init; }
    public required string Contract { get; init; }
    public required string PeerAddress { get; init; }
    public System.Numerics.BigInteger DepositWei { get; init; }
    public ulong DisputePeriodSeconds { get; init; } = 86_400;
}

/// <summary>A peer that settles over an EVM channel: its id, its asset and its channel settings.</summary>
public sealed record EvmPeer(string Id, string AssetCode, byte AssetScale, EvmPeerSettings Evm);
