using NBitcoin;

namespace M2M.Wallets.Tests;

/// <summary>Published vectors for the derivation the store uses (NBitcoin BIP-32, Nethereum EIP-55 addresses).</summary>
[Trait("Tier", "unit")]
public class VectorTests
{
    private static readonly ExtKey Bip32Vector1 = ExtKey.CreateFromSeed(Convert.FromHexString("000102030405060708090a0b0c0d0e0f"));

    [Fact]
    public void Bip32_test_vector_1_master_key_and_chain_code()
    {
        Assert.Equal("e8f32e723decf4051aefac8e2c93c9c5b214313817cdb01a1494b917c8436b35", Convert.ToHexString(Bip32Vector1.PrivateKey.ToBytes()).ToLowerInvariant());
        Assert.Equal("873dff81c02f525623fd1fe5167eac3a55a049de3d314bb42ee227ffed37d508", Convert.ToHexString(Bip32Vector1.ChainCode).ToLowerInvariant());
        Assert.Equal("xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi",
            Bip32Vector1.ToString(Network.Main));
        Assert.Equal("xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8",
            Bip32Vector1.Neuter().ToString(Network.Main));
    }

    [Fact]
    public void Bip32_test_vector_1_derived_keys()
    {
        Assert.Equal("xprv9uHRZZhk6KAJC1avXpDAp4MDc3sQKNxDiPvvkX8Br5ngLNv1TxvUxt4cV1rGL5hj6KCesnDYUhd7oWgT11eZG7XnxHrnYeSvkzY7d2bhkJ7",
            Bip32Vector1.Derive(new KeyPath("m/0'")).ToString(Network.Main));
        Assert.Equal("xprvA41z7zogVVwxVSgdKUHDy1SKmdb533PjDz7J6N6mV6uS3ze1ai8FHa8kmHScGpWmj4WggLyQjgPie1rFSruoUihUZREPSL39UNdE3BBDu76",
            Bip32Vector1.Derive(new KeyPath("m/0'/1/2'/2/1000000000")).ToString(Network.Main));
    }

    [Theory]
    // ganache --wallet.deterministic ("myth like bonus scare over problem client lizard pioneer submit female collect"), accounts 0 and 1.
    [InlineData("myth like bonus scare over problem client lizard pioneer submit female collect", "m/44'/60'/0'/0/0", "0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1")]
    [InlineData("myth like bonus scare over problem client lizard pioneer submit female collect", "m/44'/60'/0'/0/1", "0xFFcf8FDEE72ac11b5c542428B35EEF5769C409f0")]
    // Hardhat's default accounts ("test test ... junk"), accounts 0 and 1.
    [InlineData("test test test test test test test test test test test junk", "m/44'/60'/0'/0/0", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")]
    [InlineData("test test test test test test test test test test test junk", "m/44'/60'/0'/0/1", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8")]
    public void Known_EVM_addresses_of_public_test_mnemonics(string mnemonic, string path, string address)
    {
        var master = new Mnemonic(mnemonic, Wordlist.English).DeriveExtKey();
        Assert.Equal(address, WalletDerivation.EvmAddress(master, new KeyPath(path)));
    }
}
