using System.Numerics;
using System.Text.RegularExpressions;
using Nethereum.ABI.FunctionEncoding;
using Nethereum.Contracts;
using Nethereum.JsonRpc.Client;
using Nethereum.RPC.Eth.DTOs;
using Nethereum.Web3;
using Nethereum.Web3.Accounts;

namespace M2M.Settlement.Evm;

/// <summary>Gas accounting of one mined transaction. All amounts in wei.</summary>
public sealed record EvmTransactionResult(string TransactionHash, BigInteger BlockNumber, BigInteger GasUsed, BigInteger EffectiveGasPrice)
{
    /// <summary>What the sender paid for gas: gasUsed × effectiveGasPrice.</summary>
    public BigInteger GasCostWei => GasUsed * EffectiveGasPrice;
}

public sealed record EvmDeployResult(string ContractAddress, EvmTransactionResult Transaction);

public sealed record EvmOpenResult(string ChannelId, BigInteger Deposit, EvmTransactionResult Transaction);

/// <summary>A redeemed claim: <paramref name="Paid"/> is what this call transferred (cumulative − previously claimed).</summary>
public sealed record EvmClaimResult(BigInteger Paid, BigInteger CumulativeClaimed, EvmTransactionResult Transaction);

public sealed record EvmFinalizeResult(BigInteger Refunded, BigInteger TotalClaimed, EvmTransactionResult Transaction);

/// <summary>
/// On-chain state of one channel. <see cref="ClosesAt"/> is 0 while the channel is open (unix seconds otherwise).
/// Amounts are in the channel's asset: wei for an ETH channel, token base units for an ERC-20 one
/// (<see cref="Token"/> is then the token's address; null for ETH).
/// </summary>
public sealed record EvmChannelState(
    string ChannelId,
    string Sender,
    string Recipient,
    BigInteger Deposit,
    BigInteger Claimed,
    BigInteger DisputePeriodSeconds,
    BigInteger ClosesAt,
    bool Finalized,
    string? Token = null)
{
    public bool IsClosing => ClosesAt > 0 && !Finalized;
    public BigInteger Unclaimed => Deposit - Claimed;
}

/// <summary>A channel transaction was rejected by the contract (at gas estimation or on chain) or the node.</summary>
public sealed class EvmChannelException : Exception
{
    public EvmChannelException(string message, string? revertReason, string? transactionHash = null, Exception? inner = null)
        : base(message, inner)
    {
        RevertReason = revertReason;
        TransactionHash = transactionHash;
    }

    /// <summary>The contract's require() message when the node reported it (e.g. "claim exceeds deposit").</summary>
    public string? RevertReason { get; }

    /// <summary>Set when the transaction was mined and failed (status 0).</summary>
    public string? TransactionHash { get; }
}

/// <summary>
/// Talks to a deployed channel contract as one account: deploy, open/deposit (sender), claim (recipient),
/// startClose (sender), finalize (anyone), and reads. Without a token it is an ETH channel on
/// contracts/UnidirectionalChannel.sol; with <see cref="Token"/> set it is an ERC-20 channel on
/// contracts/TokenChannel.sol, amounts are token base units, and open/deposit approve the contract first.
/// Transactions are signed locally with the account's key (EIP-155 with <see cref="ChainId"/>).
/// </summary>
public sealed class EvmChannelClient
{
    private readonly Web3 _web3;

    /// <param name="rpcUrl">JSON-RPC endpoint, e.g. http://127.0.0.1:8545.</param>
    /// <param name="privateKeyHex">This account's private key.</param>
    /// <param name="chainId">The chain id used to sign transactions and in the EIP-712 domain.</param>
    /// <param name="contractAddress">The channel contract, or null until <see cref="DeployContractAsync"/>.</param>
    /// <param name="useLegacyTransactions">Send type-0 (gasPrice) instead of EIP-1559 transactions.</param>
    /// <param name="token">The ERC-20 token of the channels (a TokenChannel contract), or null for ETH channels.</param>
    public EvmChannelClient(string rpcUrl, string privateKeyHex, BigInteger chainId, string? contractAddress = null, bool useLegacyTransactions = false, string? token = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(rpcUrl);
        ArgumentException.ThrowIfNullOrWhiteSpace(privateKeyHex);
        if (chainId <= 0) throw new ArgumentOutOfRangeException(nameof(chainId));
        if (contractAddress is not null && !EvmClaimEncoding.IsValidAddress(contractAddress))
            throw new ArgumentException("contract address must be a 20-byte 0x address", nameof(contractAddress));
        if (token is not null && !EvmClaimEncoding.IsValidAddress(token))
            throw new ArgumentException("token address must be a 20-byte 0x address", nameof(token));
        var account = new Account(privateKeyHex, chainId);
        _web3 = new Web3(account, rpcUrl);
        _web3.TransactionManager.UseLegacyAsDefault = useLegacyTransactions;
        ChainId = chainId;
        AccountAddress = account.Address;
        ContractAddress = contractAddress;
        Token = token;
    }

    /// <summary>The ERC-20 token of the channels, or null for ETH channels.</summary>
    public string? Token { get; }

    /// <summary>This client's account (EIP-55 checksummed).</summary>
    public string AccountAddress { get; }

    public BigInteger ChainId { get; }

    /// <summary>The channel contract, set by the constructor or <see cref="DeployContractAsync"/>.</summary>
    public string? ContractAddress { get; private set; }

    /// <summary>
    /// When set, transactions are sent with this gas limit and no eth_estimateGas, so a rejected call is mined
    /// and fails on chain (status 0) instead of being refused at estimation.
    /// </summary>
    public BigInteger? FixedGasLimit { get; set; }

    /// <summary>The EIP-712 domain claims for this contract must be signed under.</summary>
    public EvmClaimDomain Domain => new(ChainId, RequireContract());

    /// <summary>Binds this client to an already deployed contract.</summary>
    public void UseContract(string contractAddress)
    {
        if (!EvmClaimEncoding.IsValidAddress(contractAddress))
            throw new ArgumentException("contract address must be a 20-byte 0x address", nameof(contractAddress));
        ContractAddress = contractAddress;
    }

    /// <summary>Deploys a new channel contract (TokenChannel with a token, else UnidirectionalChannel) from this account and binds this client to it.</summary>
    public async Task<EvmDeployResult> DeployContractAsync(CancellationToken cancellationToken = default)
    {
        var receipt = Token is null
            ? await Execute(
                () => _web3.Eth.GetContractDeploymentHandler<ChannelDeployment>().SendRequestAndWaitForReceiptAsync(new ChannelDeployment { Gas = FixedGasLimit }, cancellationToken),
                "deploy").ConfigureAwait(false)
            : await Execute(
                () => _web3.Eth.GetContractDeploymentHandler<TokenChannelDeployment>().SendRequestAndWaitForReceiptAsync(new TokenChannelDeployment { Gas = FixedGasLimit }, cancellationToken),
                "deploy").ConfigureAwait(false);
        ContractAddress = receipt.ContractAddress
            ?? throw new EvmChannelException("deployment receipt has no contract address", null, receipt.TransactionHash);
        return new EvmDeployResult(ContractAddress, ToResult(receipt));
    }

    /// <summary>
    /// Opens a channel from this account (the sender) to <paramref name="recipient"/> with a deposit (wei, or token
    /// base units with a token: the contract is approved for the deposit first, then pulls it with transferFrom).
    /// </summary>
    public async Task<EvmOpenResult> OpenChannelAsync(string recipient, BigInteger depositWei, BigInteger disputePeriodSeconds, CancellationToken cancellationToken = default)
    {
        if (!EvmClaimEncoding.IsValidAddress(recipient)) throw new ArgumentException("recipient must be a 20-byte 0x address", nameof(recipient));
        if (depositWei <= 0) throw new ArgumentOutOfRangeException(nameof(depositWei), "deposit must be positive");
        if (disputePeriodSeconds <= 0) throw new ArgumentOutOfRangeException(nameof(disputePeriodSeconds));
        if (Token is not null)
        {
            await ApproveAsync(depositWei, cancellationToken).ConfigureAwait(false);
            var tokenOpen = new TokenOpenFunction { Token = Token, Recipient = recipient, Amount = depositWei, DisputePeriod = disputePeriodSeconds, Gas = FixedGasLimit };
            var tokenReceipt = await Send(tokenOpen, "open", cancellationToken).ConfigureAwait(false);
            var tokenOpened = tokenReceipt.DecodeAllEvents<TokenChannelOpenedEvent>().FirstOrDefault()
                ?? throw new EvmChannelException("open receipt has no ChannelOpened event", null, tokenReceipt.TransactionHash);
            return new EvmOpenResult(EvmClaimEncoding.ToHex(tokenOpened.Event.ChannelId), tokenOpened.Event.Deposit, ToResult(tokenReceipt));
        }
        var message = new OpenFunction { Recipient = recipient, DisputePeriod = disputePeriodSeconds, AmountToSend = depositWei, Gas = FixedGasLimit };
        var receipt = await Send(message, "open", cancellationToken).ConfigureAwait(false);
        var opened = receipt.DecodeAllEvents<ChannelOpenedEvent>().FirstOrDefault()
            ?? throw new EvmChannelException("open receipt has no ChannelOpened event", null, receipt.TransactionHash);
        return new EvmOpenResult(EvmClaimEncoding.ToHex(opened.Event.ChannelId), opened.Event.Deposit, ToResult(receipt));
    }

    /// <summary>Adds to the deposit of a channel this account sends on (with a token: approves, then the contract pulls it).</summary>
    public async Task<EvmTransactionResult> DepositAsync(string channelId, BigInteger amountWei, CancellationToken cancellationToken = default)
    {
        if (amountWei <= 0) throw new ArgumentOutOfRangeException(nameof(amountWei));
        var id = ParseId(channelId);
        if (Token is null)
            return await SendSimple(new DepositFunction { Id = id, AmountToSend = amountWei, Gas = FixedGasLimit }, "deposit", cancellationToken).ConfigureAwait(false);
        await ApproveAsync(amountWei, cancellationToken).ConfigureAwait(false);
        return await SendSimple(new TokenDepositFunction { Id = id, Amount = amountWei, Gas = FixedGasLimit }, "deposit", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Lets the channel contract pull <paramref name="amount"/> of the token from this account. Skipped when the
    /// allowance already covers it; a non-zero allowance is reset to 0 first (tokens such as USDT refuse to change
    /// one non-zero allowance into another).
    /// </summary>
    private async Task ApproveAsync(BigInteger amount, CancellationToken cancellationToken)
    {
        string token = RequireToken();
        string spender = RequireContract();
        var allowance = await _web3.Eth.GetContractQueryHandler<Erc20AllowanceFunction>()
            .QueryAsync<BigInteger>(token, new Erc20AllowanceFunction { Owner = AccountAddress, Spender = spender }, BlockParameter.CreateLatest())
            .ConfigureAwait(false);
        if (allowance >= amount) return;
        if (allowance > 0)
            await SendTo(token, new Erc20ApproveFunction { Spender = spender, Value = 0, Gas = FixedGasLimit }, "approve", cancellationToken).ConfigureAwait(false);
        await SendTo(token, new Erc20ApproveFunction { Spender = spender, Value = amount, Gas = FixedGasLimit }, "approve", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Redeems a sender-signed cumulative claim as the channel's recipient.</summary>
    public async Task<EvmClaimResult> ClaimAsync(string channelId, BigInteger cumulativeAmount, string signatureHex, CancellationToken cancellationToken = default)
    {
        if (cumulativeAmount < 0 || cumulativeAmount > EvmClaimEncoding.MaxUint256) throw new ArgumentOutOfRangeException(nameof(cumulativeAmount));
        if (!EvmClaimEncoding.TryParseHex(signatureHex, out var signature)) throw new ArgumentException("signature must be hex", nameof(signatureHex));
        var message = new ClaimFunction { Id = ParseId(channelId), CumulativeAmount = cumulativeAmount, Signature = signature, Gas = FixedGasLimit };
        var receipt = await Send(message, "claim", cancellationToken).ConfigureAwait(false);
        var claimed = receipt.DecodeAllEvents<ClaimedEvent>().FirstOrDefault()
            ?? throw new EvmChannelException("claim receipt has no Claimed event", null, receipt.TransactionHash);
        return new EvmClaimResult(claimed.Event.Paid, claimed.Event.CumulativeClaimed, ToResult(receipt));
    }

    /// <summary>Starts the dispute period (sender only).</summary>
    public Task<EvmTransactionResult> StartCloseAsync(string channelId, CancellationToken cancellationToken = default) =>
        SendSimple(new StartCloseFunction { Id = ParseId(channelId), Gas = FixedGasLimit }, "startClose", cancellationToken);

    /// <summary>After the dispute period, refunds the unclaimed deposit to the sender (anyone may call).</summary>
    public async Task<EvmFinalizeResult> FinalizeAsync(string channelId, CancellationToken cancellationToken = default)
    {
        var receipt = await Send(new FinalizeFunction { Id = ParseId(channelId), Gas = FixedGasLimit }, "finalize", cancellationToken).ConfigureAwait(false);
        var finalized = receipt.DecodeAllEvents<FinalizedEvent>().FirstOrDefault()
            ?? throw new EvmChannelException("finalize receipt has no Finalized event", null, receipt.TransactionHash);
        return new EvmFinalizeResult(finalized.Event.Refunded, finalized.Event.TotalClaimed, ToResult(receipt));
    }

    /// <summary>Reads a channel; null when no channel has this id.</summary>
    public async Task<EvmChannelState?> GetChannelAsync(string channelId, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var id = ParseId(channelId);
        if (Token is not null)
        {
            var t = await _web3.Eth.GetContractQueryHandler<ChannelsFunction>()
                .QueryDeserializingToObjectAsync<TokenChannelsOutput>(new ChannelsFunction { Id = id }, RequireContract(), BlockParameter.CreateLatest())
                .ConfigureAwait(false);
            if (t.Sender is null || IsZeroAddress(t.Sender)) return null;
            return new EvmChannelState(EvmClaimEncoding.ToHex(id), t.Sender, t.Recipient, t.Deposit, t.Claimed, t.DisputePeriod, t.ClosesAt, t.Finalized, t.Token);
        }
        var output = await _web3.Eth.GetContractQueryHandler<ChannelsFunction>()
            .QueryDeserializingToObjectAsync<ChannelsOutput>(new ChannelsFunction { Id = id }, RequireContract(), BlockParameter.CreateLatest())
            .ConfigureAwait(false);
        if (output.Sender is null || IsZeroAddress(output.Sender))
            return null;
        return new EvmChannelState(EvmClaimEncoding.ToHex(id), output.Sender, output.Recipient, output.Deposit, output.Claimed,
            output.DisputePeriod, output.ClosesAt, output.Finalized);
    }

    /// <summary>The contract's own EIP-712 digest for a claim (for interop checks against <see cref="EvmClaimSigner.Digest"/>).</summary>
    public Task<byte[]> GetClaimDigestAsync(string channelId, BigInteger cumulativeAmount) =>
        _web3.Eth.GetContractQueryHandler<ClaimDigestFunction>()
            .QueryAsync<byte[]>(RequireContract(), new ClaimDigestFunction { Id = ParseId(channelId), CumulativeAmount = cumulativeAmount }, BlockParameter.CreateLatest());

    /// <summary>The wei balance of any address.</summary>
    public async Task<BigInteger> GetBalanceAsync(string address, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return (await _web3.Eth.GetBalance.SendRequestAsync(address, BlockParameter.CreateLatest()).ConfigureAwait(false)).Value;
    }

    /// <summary>The token balance (base units) of any address; requires a token.</summary>
    public async Task<BigInteger> GetTokenBalanceAsync(string address, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return await _web3.Eth.GetContractQueryHandler<Erc20BalanceOfFunction>()
            .QueryAsync<BigInteger>(RequireToken(), new Erc20BalanceOfFunction { Account = address }, BlockParameter.CreateLatest())
            .ConfigureAwait(false);
    }

    /// <summary>Whether <paramref name="address"/> holds contract code (an account without code answers every call with nothing).</summary>
    public async Task<bool> HasCodeAsync(string address, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        string code = await _web3.Eth.GetCode.SendRequestAsync(address, BlockParameter.CreateLatest()).ConfigureAwait(false);
        return code is { Length: > 2 };
    }

    /// <summary>The token's decimals (ERC-20's optional decimals()); requires a token.</summary>
    public async Task<byte> GetTokenDecimalsAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return await _web3.Eth.GetContractQueryHandler<Erc20DecimalsFunction>()
            .QueryAsync<byte>(RequireToken(), new Erc20DecimalsFunction(), BlockParameter.CreateLatest())
            .ConfigureAwait(false);
    }

    /// <summary>The chain id the node reports.</summary>
    public async Task<BigInteger> GetNodeChainIdAsync() => (await _web3.Eth.ChainId.SendRequestAsync().ConfigureAwait(false)).Value;

    private async Task<EvmTransactionResult> SendSimple<T>(T message, string what, CancellationToken cancellationToken) where T : FunctionMessage, new() =>
        ToResult(await Send(message, what, cancellationToken).ConfigureAwait(false));

    private Task<TransactionReceipt> Send<T>(T message, string what, CancellationToken cancellationToken) where T : FunctionMessage, new() =>
        SendTo(RequireContract(), message, what, cancellationToken);

    private Task<TransactionReceipt> SendTo<T>(string contract, T message, string what, CancellationToken cancellationToken) where T : FunctionMessage, new() =>
        Execute(() => _web3.Eth.GetContractTransactionHandler<T>().SendRequestAndWaitForReceiptAsync(contract, message, cancellationToken), what);

    private static async Task<TransactionReceipt> Execute(Func<Task<TransactionReceipt>> send, string what)
    {
        TransactionReceipt receipt;
        try
        {
            receipt = await send().ConfigureAwait(false);
        }
        catch (SmartContractRevertException ex)
        {
            throw new EvmChannelException($"{what} reverted: {ex.RevertMessage}", ex.RevertMessage, null, ex);
        }
        catch (RpcResponseException ex)
        {
            var reason = RevertReasonFrom(ex.RpcError);
            throw new EvmChannelException($"{what} rejected by the node: {ex.RpcError?.Message}", reason, null, ex);
        }
        if (receipt.Status is not null && receipt.Status.Value != 1)
            throw new EvmChannelException($"{what} reverted on chain (tx {receipt.TransactionHash})", null, receipt.TransactionHash);
        return receipt;
    }

    /// <summary>Pulls the require() message out of a node error ("... revert claim exceeds deposit").</summary>
    internal static string? RevertReasonFrom(RpcError? error)
    {
        if (error is null) return null;
        var match = Regex.Match(error.Message ?? "", @"revert(?:ed)?:?\s+(.+)$");
        return match.Success ? match.Groups[1].Value.Trim() : null;
    }

    private static EvmTransactionResult ToResult(TransactionReceipt r) => new(
        r.TransactionHash,
        r.BlockNumber?.Value ?? 0,
        r.GasUsed?.Value ?? 0,
        r.EffectiveGasPrice?.Value ?? 0);

    private string RequireToken() =>
        Token ?? throw new InvalidOperationException("this client has no token: it works on ETH channels");

    private static bool IsZeroAddress(string address) =>
        new BigInteger(Convert.FromHexString(address[2..]), isUnsigned: true, isBigEndian: true).IsZero;

    private string RequireContract() =>
        ContractAddress ?? throw new InvalidOperationException("no channel contract: deploy one or pass its address");

    private static byte[] ParseId(string channelId) =>
        EvmClaimEncoding.TryParseChannelId(channelId, out var id) ? id : throw new ArgumentException("channel id must be 32 bytes of hex", nameof(channelId));
}
