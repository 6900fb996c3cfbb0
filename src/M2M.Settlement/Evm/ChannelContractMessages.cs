using System.Numerics;
using Nethereum.ABI.FunctionEncoding.Attributes;
using Nethereum.Contracts;

namespace M2M.Settlement.Evm;

// Typed Nethereum messages for contracts/UnidirectionalChannel.sol (ABI in ChannelContractArtifacts.g.cs).

internal sealed class ChannelDeployment : ContractDeploymentMessage
{
    public ChannelDeployment() : base(ChannelContractArtifacts.Bytecode) { }
}

[Function("open", "bytes32")]
internal sealed class OpenFunction : FunctionMessage
{
    [Parameter("address", "recipient", 1)] public string Recipient { get; set; } = "";
    [Parameter("uint256", "disputePeriod", 2)] public BigInteger DisputePeriod { get; set; }
}

[Function("deposit")]
internal sealed class DepositFunction : FunctionMessage
{
    [Parameter("bytes32", "id", 1)] public byte[] Id { get; set; } = [];
}

[Function("claim")]
internal sealed class ClaimFunction : FunctionMessage
{
    [Parameter("bytes32", "id", 1)] public byte[] Id { get; set; } = [];
    [Parameter("uint256", "cumulativeAmount", 2)] public BigInteger CumulativeAmount { get; set; }
    [Parameter("bytes", "signature", 3)] public byte[] Signature { get; set; } = [];
}

[Function("startClose")]
internal sealed class StartCloseFunction : FunctionMessage
{
    [Parameter("bytes32", "id", 1)] public byte[] Id { get; set; } = [];
}

[Function("finalize")]
internal sealed class FinalizeFunction : FunctionMessage
{
    [Parameter("bytes32", "id", 1)] public byte[] Id { get; set; } = [];
}

[Function("channels", typeof(ChannelsOutput))]
internal sealed class ChannelsFunction : FunctionMessage
{
    [Parameter("bytes32", "", 1)] public byte[] Id { get; set; } = [];
}

[FunctionOutput]
internal sealed class ChannelsOutput : IFunctionOutputDTO
{
    [Parameter("address", "sender", 1)] public string Sender { get; set; } = "";
    [Parameter("address", "recipient", 2)] public string Recipient { get; set; } = "";
    [Parameter("uint256", "deposit", 3)] public BigInteger Deposit { get; set; }
    [Parameter("uint256", "claimed", 4)] public BigInteger Claimed { get; set; }
    [Parameter("uint256", "disputePeriod", 5)] public BigInteger DisputePeriod { get; set; }
    [Parameter("uint256", "closesAt", 6)] public BigInteger ClosesAt { get; set; }
    [Parameter("bool", "finalized", 7)] public bool Finalized { get; set; }
}

[Function("claimDigest", "bytes32")]
internal sealed class ClaimDigestFunction : FunctionMessage
{
    [Parameter("bytes32", "id", 1)] public byte[] Id { get; set; } = [];
    [Parameter("uint256", "cumulativeAmount", 2)] public BigInteger CumulativeAmount { get; set; }
}

[Function("domainSeparator", "bytes32")]
internal sealed class DomainSeparatorFunction : FunctionMessage
{
}

[Event("ChannelOpened")]
internal sealed class ChannelOpenedEvent : IEventDTO
{
    [Parameter("bytes32", "channelId", 1, true)] public byte[] ChannelId { get; set; } = [];
    [Parameter("address", "sender", 2, true)] public string Sender { get; set; } = "";
    [Parameter("address", "recipient", 3, true)] public string Recipient { get; set; } = "";
    [Parameter("uint256", "deposit", 4, false)] public BigInteger Deposit { get; set; }
    [Parameter("uint256", "disputePeriod", 5, false)] public BigInteger DisputePeriod { get; set; }
}

[Event("Claimed")]
internal sealed class ClaimedEvent : IEventDTO
{
    [Parameter("bytes32", "channelId", 1, true)] public byte[] ChannelId { get; set; } = [];
    [Parameter("address", "recipient", 2, true)] public string Recipient { get; set; } = "";
    [Parameter("uint256", "paid", 3, false)] public BigInteger Paid { get; set; }
    [Parameter("uint256", "cumulativeClaimed", 4, false)] public BigInteger CumulativeClaimed { get; set; }
}

[Event("Finalized")]
internal sealed class FinalizedEvent : IEventDTO
{
    [Parameter("bytes32", "channelId", 1, true)] public byte[] ChannelId { get; set; } = [];
    [Parameter("uint256", "refunded", 2, false)] public BigInteger Refunded { get; set; }
    [Parameter("uint256", "totalClaimed", 3, false)] public BigInteger TotalClaimed { get; set; }
}

// Typed messages for contracts/TokenChannel.sol (ABI in TokenChannelContractArtifacts.g.cs). claim, startClose,
// finalize, claimDigest, domainSeparator and the Claimed/Finalized events have the same signatures as above.

internal sealed class TokenChannelDeployment : ContractDeploymentMessage
{
    public TokenChannelDeployment() : base(TokenChannelContractArtifacts.Bytecode) { }
}

[Function("open", "bytes32")]
internal sealed class TokenOpenFunction : FunctionMessage
{
    [Parameter("address", "token", 1)] public string Token { get; set; } = "";
    [Parameter("address", "recipient", 2)] public string Recipient { get; set; } = "";
    [Parameter("uint256", "amount", 3)] public BigInteger Amount { get; set; }
    [Parameter("uint256", "disputePeriod", 4)] public BigInteger DisputePeriod { get; set; }
}

[Function("deposit")]
internal sealed class TokenDepositFunction : FunctionMessage
{
    [Parameter("bytes32", "id", 1)] public byte[] Id { get; set; } = [];
    [Parameter("uint256", "amount", 2)] public BigInteger Amount { get; set; }
}

[FunctionOutput]
internal sealed class TokenChannelsOutput : IFunctionOutputDTO
{
    [Parameter("address", "sender", 1)] public string Sender { get; set; } = "";
    [Parameter("address", "recipient", 2)] public string Recipient { get; set; } = "";
    [Parameter("address", "token", 3)] public string Token { get; set; } = "";
    [Parameter("uint256", "deposit", 4)] public BigInteger Deposit { get; set; }
    [Parameter("uint256", "claimed", 5)] public BigInteger Claimed { get; set; }
    [Parameter("uint256", "disputePeriod", 6)] public BigInteger DisputePeriod { get; set; }
    [Parameter("uint256", "closesAt", 7)] public BigInteger ClosesAt { get; set; }
    [Parameter("bool", "finalized", 8)] public bool Finalized { get; set; }
}

[Event("ChannelOpened")]
internal sealed class TokenChannelOpenedEvent : IEventDTO
{
    [Parameter("bytes32", "channelId", 1, true)] public byte[] ChannelId { get; set; } = [];
    [Parameter("address", "sender", 2, true)] public string Sender { get; set; } = "";
    [Parameter("address", "recipient", 3, true)] public string Recipient { get; set; } = "";
    [Parameter("address", "token", 4, false)] public string Token { get; set; } = "";
    [Parameter("uint256", "deposit", 5, false)] public BigInteger Deposit { get; set; }
    [Parameter("uint256", "disputePeriod", 6, false)] public BigInteger DisputePeriod { get; set; }
}

// ERC-20 (the parts the payer and receiver use).

[Function("approve", "bool")]
internal sealed class Erc20ApproveFunction : FunctionMessage
{
    [Parameter("address", "spender", 1)] public string Spender { get; set; } = "";
    [Parameter("uint256", "value", 2)] public BigInteger Value { get; set; }
}

[Function("allowance", "uint256")]
internal sealed class Erc20AllowanceFunction : FunctionMessage
{
    [Parameter("address", "owner", 1)] public string Owner { get; set; } = "";
    [Parameter("address", "spender", 2)] public string Spender { get; set; } = "";
}

[Function("balanceOf", "uint256")]
internal sealed class Erc20BalanceOfFunction : FunctionMessage
{
    [Parameter("address", "account", 1)] public string Account { get; set; } = "";
}

[Function("decimals", "uint8")]
internal sealed class Erc20DecimalsFunction : FunctionMessage
{
}
