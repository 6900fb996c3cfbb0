using M2M.Settlement.Xrp;
using NBitcoin;
using Nethereum.Signer;

namespace M2M.Wallets;

public enum WalletChain { Evm, Xrp }

/// <summary>The two addresses of one derivation index.</summary>
public sealed record DerivedAddresses(int DerivationIndex, string EvmAddress, string XrpAddress);

/// <summary>BIP-44 derivation of agent addresses: EVM at m/44'/60'/1'/0/i, XRP at m/44'/144'/1'/0/i (account 1'
/// is the agent-wallet account, as in 1.x).</summary>
public static class WalletDerivation
{
    public const int MaxIndex = int.MaxValue; // non-hardened child index range: 0 .. 2^31-1

    public static KeyPath EvmPath(int index) => new($"m/44'/60'/1'/0/{CheckIndex(index)}");
    public static KeyPath XrpPath(int index) => new($"m/44'/144'/1'/0/{CheckIndex(index)}");

    /// <summary>EIP-55 checksummed address of the key at <paramref name="path"/>.</summary>
    public static string EvmAddress(ExtKey master, KeyPath path)
    {
        using var key = master.Derive(path).PrivateKey;
        var bytes = key.ToBytes();
        try { return new EthECKey(bytes, true).GetPublicAddress(); }
        finally { Array.Clear(bytes); }
    }

    /// <summary>XRPL classic address of the compressed secp256k1 public key at <paramref name="path"/>.</summary>
    public static string XrpAddress(ExtKey master, KeyPath path)
    {
        using var key = master.Derive(path).PrivateKey;
        return M2M.Settlement.Xrp.XrpAddress.FromPublicKey(key.PubKey.Compress().ToBytes());
    }

    public static DerivedAddresses Derive(ExtKey master, int index) =>
        new(index, EvmAddress(master, EvmPath(index)), XrpAddress(master, XrpPath(index)));

    public static string ChainName(WalletChain chain) => chain == WalletChain.Evm ? "evm" : "xrp";

    private static int CheckIndex(int index) =>
        index < 0 ? throw new ArgumentOutOfRangeException(nameof(index), "derivation index must be >= 0") : index;
}
