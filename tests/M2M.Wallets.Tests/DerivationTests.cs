using NBitcoin;

namespace M2M.Wallets.Tests;

[Trait("Tier", "unit")]
public class DerivationTests
{
    private static ExtKey Master() => new Mnemonic(TestFiles.TestMnemonic, Wordlist.English).DeriveExtKey();

    [Fact]
    public void Bip44_vector_for_the_standard_test_mnemonic()
    {
        // Well-known vector (MetaMask/ethers/Trezor): "abandon ×11 about", m/44'/60'/0'/0/0.
        Assert.Equal("0x9858EfFD232B4033E47d90003D41EC34EcaEda94", WalletDerivation.EvmAddress(Master(), new KeyPath("m/44'/60'/0'/0/0")));
    }

    [Fact]
    public void Bip39_seed_vector()
    {
        // BIP-39 reference vector (Trezor vectors.json, passphrase "TREZOR").
        var seed = new Mnemonic(TestFiles.TestMnemonic, Wordlist.English).DeriveSeed("TREZOR");
        Assert.Equal("c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04",
            Convert.ToHexString(seed).ToLowerInvariant());
    }

    [Fact]
    public void Agent_paths_are_the_1x_paths()
    {
        Assert.Equal("44'/60'/1'/0/7", WalletDerivation.EvmPath(7).ToString());
        Assert.Equal("44'/144'/1'/0/7", WalletDerivation.XrpPath(7).ToString());
        Assert.Throws<ArgumentOutOfRangeException>(() => WalletDerivation.EvmPath(-1));
    }

    [Fact]
    public void Agent_paths_are_deterministic_and_distinct()
    {
        var a = Enumerable.Range(0, 5).Select(i => WalletDerivation.Derive(Master(), i)).ToList();
        var b = Enumerable.Range(0, 5).Select(i => WalletDerivation.Derive(Master(), i)).ToList();
        Assert.Equal(a, b);
        Assert.Equal(5, a.Select(d => d.EvmAddress).Distinct().Count());
        Assert.Equal(5, a.Select(d => d.XrpAddress).Distinct().Count());
        Assert.All(a, d => Assert.True(M2M.Settlement.Xrp.XrpAddress.IsValid(d.XrpAddress)));
        Assert.All(a, d => Assert.Matches("^0x[0-9a-fA-F]{40}$", d.EvmAddress));
        Assert.NotEqual(WalletDerivation.EvmAddress(Master(), new KeyPath("m/44'/60'/0'/0/0")), a[0].EvmAddress);
    }

    [Fact]
    public void Derivation_matches_the_independent_python_fixture_generator()
    {
        foreach (var e in TestFiles.Expected())
        {
            var d = WalletDerivation.Derive(Master(), e.DerivationIndex);
            Assert.Equal(e.EvmAddress, d.EvmAddress);
            Assert.Equal(e.XrpAddress, d.XrpAddress);
        }
    }
}
