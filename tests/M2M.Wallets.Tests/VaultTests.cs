namespace M2M.Wallets.Tests;

[Trait("Tier", "unit")]
public class VaultTests
{
    [Fact]
    public void Seal_and_unseal_round_trip()
    {
        var m = WalletSeedVault.GenerateMnemonic();
        Assert.Equal(24, m.Words.Length);
        var sealedSeed = WalletSeedVault.Seal(m, "pw-1", TestFiles.FastIterations);
        Assert.Equal(16, sealedSeed.Salt.Length);
        Assert.Equal(12, sealedSeed.Nonce.Length);
        Assert.Equal(16, sealedSeed.Tag.Length);
        Assert.Equal(TestFiles.FastIterations, sealedSeed.Iterations);
        Assert.DoesNotContain(m.Words[0] + " " + m.Words[1], System.Text.Encoding.UTF8.GetString(sealedSeed.Ciphertext));
        using var v = WalletSeedVault.Unseal(sealedSeed, "pw-1");
        Assert.Equal(m.ToString(), v.RevealMnemonic());
        using var direct = WalletSeedVault.FromMnemonic(m);
        Assert.Equal(direct.Derive(3), v.Derive(3));
    }

    [Fact]
    public void Wrong_password_is_a_clear_error()
    {
        var sealedSeed = WalletSeedVault.Seal(WalletSeedVault.GenerateMnemonic(), "right", TestFiles.FastIterations);
        var e = Assert.Throws<WalletPasswordException>(() => WalletSeedVault.Unseal(sealedSeed, "wrong"));
        Assert.Equal("wrong wallet password", e.Message);
    }

    [Fact]
    public void Default_is_600k_pbkdf2_iterations_and_two_seals_differ()
    {
        var m = WalletSeedVault.GenerateMnemonic();
        var a = WalletSeedVault.Seal(m, "pw");
        var b = WalletSeedVault.Seal(m, "pw", TestFiles.FastIterations);
        Assert.Equal(600_000, a.Iterations);
        Assert.NotEqual(a.Salt, b.Salt);
        Assert.NotEqual(a.Nonce, b.Nonce);
        using var v = WalletSeedVault.Unseal(a, "pw");
        Assert.Equal(m.ToString(), v.RevealMnemonic());
    }

    [Fact]
    public void Secrets_never_appear_in_ToString()
    {
        var m = WalletSeedVault.GenerateMnemonic();
        using var v = WalletSeedVault.FromMnemonic(m);
        Assert.DoesNotContain(m.Words[0], v.ToString());
        Assert.Equal("WalletSeedVault(***)", v.ToString());
        var s = WalletSeedVault.Seal(m, "pw", TestFiles.FastIterations);
        Assert.DoesNotContain("Ciphertext", s.ToString());
    }

    [Fact]
    public void Invalid_mnemonic_is_refused_without_echoing_it()
    {
        var e = Assert.Throws<FormatException>(() => WalletSeedVault.ParseMnemonic("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon"));
        Assert.DoesNotContain("abandon", e.Message);
        Assert.Throws<FormatException>(() => WalletSeedVault.ParseMnemonic("not a mnemonic"));
    }
}
