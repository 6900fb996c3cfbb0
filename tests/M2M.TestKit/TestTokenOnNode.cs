using System.Globalization;
using System.Numerics;
using System.Text;

namespace M2M.TestKit;

/// <summary>
/// The test-only ERC-20 (tests/evm/contracts/TestToken.sol, compiled into <see cref="TestTokenArtifacts"/>) on the
/// local node: deployed and moved with the node's unlocked deterministic accounts through plain JSON-RPC
/// (eth_sendTransaction / eth_call), independent of the connector's own EVM client.
/// </summary>
public sealed class TestTokenOnNode
{
    private readonly EvmNodeFixture _node;

    private TestTokenOnNode(EvmNodeFixture node, string address)
    {
        _node = node;
        Address = address;
    }

    /// <summary>The token contract's address (as the node reports it, lower case).</summary>
    public string Address { get; }

    /// <summary>Deploys a token whose whole <paramref name="supply"/> goes to <paramref name="deployer"/>.</summary>
    public static async Task<TestTokenOnNode> DeployAsync(EvmNodeFixture node, string deployer, string symbol, byte decimals, BigInteger supply)
    {
        var args = new StringBuilder();
        args.Append(Word(4 * 32)); // offset of name
        args.Append(Word(4 * 32 + StringSize(symbol))); // offset of symbol
        args.Append(Word(decimals));
        args.Append(Word(supply));
        args.Append(EncodeString(symbol)); // name = symbol
        args.Append(EncodeString(symbol));
        var receipt = await SendAsync(node, deployer, null, "0x" + TestTokenArtifacts.Bytecode + args);
        var address = receipt.GetProperty("contractAddress").GetString() ?? throw new InvalidOperationException("token deployment has no contract address");
        return new TestTokenOnNode(node, address);
    }

    /// <summary>transfer(to, amount) from one of the node's accounts.</summary>
    public Task TransferAsync(string from, string to, BigInteger amount) =>
        SendAsync(_node, from, Address, "0xa9059cbb" + AddressWord(to) + Word(amount));

    /// <summary>approve(spender, amount) from one of the node's accounts.</summary>
    public Task ApproveAsync(string owner, string spender, BigInteger amount) =>
        SendAsync(_node, owner, Address, "0x095ea7b3" + AddressWord(spender) + Word(amount));

    /// <summary>balanceOf(account).</summary>
    public async Task<BigInteger> BalanceOfAsync(string account)
    {
        var result = await _node.RpcAsync("eth_call", new { to = Address, data = "0x70a08231" + AddressWord(account) }, "latest");
        return ParseHex(result.GetString()!);
    }

    /// <summary>allowance(owner, spender).</summary>
    public async Task<BigInteger> AllowanceAsync(string owner, string spender)
    {
        var result = await _node.RpcAsync("eth_call", new { to = Address, data = "0xdd62ed3e" + AddressWord(owner) + AddressWord(spender) }, "latest");
        return ParseHex(result.GetString()!);
    }

    private static async Task<System.Text.Json.JsonElement> SendAsync(EvmNodeFixture node, string from, string? to, string data)
    {
        object tx = to is null ? new { from, data, gas = "0x2dc6c0" } : new { from, to, data, gas = "0x2dc6c0" };
        var hash = (await node.RpcAsync("eth_sendTransaction", tx)).GetString()!;
        var receipt = await node.RpcAsync("eth_getTransactionReceipt", hash);
        if (receipt.GetProperty("status").GetString() != "0x1") throw new InvalidOperationException($"token transaction {hash} failed");
        return receipt;
    }

    private static BigInteger ParseHex(string hex) => BigInteger.Parse("0" + hex[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    private static string Word(BigInteger value)
    {
        if (value < 0) throw new ArgumentOutOfRangeException(nameof(value));
        var hex = value.ToString("x", CultureInfo.InvariantCulture).TrimStart('0');
        return hex.PadLeft(64, '0');
    }

    private static string AddressWord(string address) => address[2..].ToLowerInvariant().PadLeft(64, '0');

    private static int StringSize(string s) => 32 + ((Encoding.UTF8.GetByteCount(s) + 31) / 32 * 32);

    private static string EncodeString(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        var data = Convert.ToHexString(bytes).ToLowerInvariant();
        return Word(bytes.Length) + data.PadRight((bytes.Length + 31) / 32 * 64, '0');
    }
}
