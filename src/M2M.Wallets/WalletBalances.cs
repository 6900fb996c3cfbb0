using System.Numerics;
using Nethereum.RPC.Eth.DTOs;
using Nethereum.Web3;

namespace M2M.Wallets;

/// <summary>The chain could not be asked (node down, timeout, bad answer).</summary>
public sealed class WalletChainException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>On-chain balance of agent addresses: EVM through Nethereum's eth_getBalance against one JSON-RPC URL.</summary>
public sealed class EvmBalanceReader(Uri rpcUrl, TimeSpan? timeout = null)
{
    /// <summary>A wallet page asks one balance per call; a node that hangs must not hold the HTTP request for long.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly Web3 _web3 = new(rpcUrl.ToString());
    private readonly TimeSpan _timeout = timeout ?? DefaultTimeout;

    public Uri RpcUrl { get; } = rpcUrl;

    /// <summary>Balance in wei at the latest block.</summary>
    public async Task<BigInteger> GetBalanceAsync(string address, CancellationToken cancellationToken)
    {
        try
        {
            var balance = await _web3.Eth.GetBalance.SendRequestAsync(address, BlockParameter.CreateLatest())
                .WaitAsync(_timeout, cancellationToken).ConfigureAwait(false);
            return balance.Value;
        }
        catch (TimeoutException e)
        {
            throw new WalletChainException($"EVM node {RpcUrl.GetLeftPart(UriPartial.Authority)} did not answer eth_getBalance within {_timeout.TotalSeconds:0} s", e);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new WalletChainException($"EVM node {RpcUrl.GetLeftPart(UriPartial.Authority)} eth_getBalance failed: {e.Message}", e);
        }
    }
}
