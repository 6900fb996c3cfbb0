namespace M2M.Wallets.Tests;

[Trait("Tier", "integration")]
public class OperatorStoreTests
{
    private static WalletStoreOptions Fast() => new() { Iterations = TestFiles.FastIterations };

    [Fact]
    public async Task Init_refuses_a_store_that_has_a_seed_before_any_password_check()
    {
        using var dir = new TempDir();
        var path = dir.File("agent-wallets.db");
        using (var s = WalletStore.Init(path, "pw", null, Fast())) await s.CreateAsync("agent-a");
        var sha = TestFiles.Sha256(path);
        foreach (var (password, mnemonic) in new[] { ("pw", (string?)null), ("wrong", null), ("pw", TestFiles.TestMnemonic) })
        {
            var e = Assert.Throws<WalletStoreException>(() => WalletStore.Init(path, password, mnemonic, Fast()));
            Assert.Contains("already holds a master seed", e.Message);
        }
        Assert.Equal(sha, TestFiles.Sha256(path));
    }

    [Fact]
    public void Init_seals_a_migrated_store_only_with_its_1x_mnemonic()
    {
        using var dir = new TempDir();
        var path = TestFiles.CopyFixture(dir);
        Assert.Contains("migrate-wallet", Assert.Throws<WalletStoreException>(() => WalletStore.Init(path, "pw", TestFiles.TestMnemonic, Fast())).Message);
        WalletMigrator.Migrate(path, "1.0", "2.0", dryRun: false);
        Assert.Contains("--import-mnemonic-file", Assert.Throws<WalletStoreException>(() => WalletStore.Init(path, "pw", null, Fast())).Message);
        var other = WalletSeedVault.GenerateMnemonic().ToString();
        var sha = TestFiles.Sha256(path);
        Assert.Contains("does not derive", Assert.Throws<WalletStoreException>(() => WalletStore.Init(path, "pw", other, Fast())).Message);
        Assert.Equal(sha, TestFiles.Sha256(path));
        using var store = WalletStore.Init(path, "pw", TestFiles.TestMnemonic, Fast());
        Assert.Equal(5, store.VerifyAddresses());
    }

    [Fact]
    public void OpenExisting_never_creates_a_store()
    {
        using var dir = new TempDir();
        var path = dir.File("missing/agent-wallets.db");
        Assert.Contains("wallet init", Assert.Throws<WalletStoreException>(() => WalletStore.OpenExisting(path, "pw")).Message);
        Assert.False(Directory.Exists(dir.File("missing")));
    }

    [Fact]
    public async Task Pages_filter_by_status_and_keep_derivation_order()
    {
        using var dir = new TempDir();
        using var store = WalletStore.Init(dir.File("w.db"), "pw", TestFiles.TestMnemonic, Fast());
        for (int i = 0; i < 7; i++) await store.CreateAsync($"agent-{i}");
        store.Suspend("agent-1");
        store.Suspend("agent-4");
        store.Archive("agent-5");

        var first = store.Page(null, 0, 3);
        Assert.Equal((7, 3), (first.Total, first.Wallets.Count));
        Assert.Equal(["agent-0", "agent-1", "agent-2"], first.Wallets.Select(w => w.AgentId));
        Assert.Equal(["agent-6"], store.Page(null, 6, 3).Wallets.Select(w => w.AgentId));
        Assert.Empty(store.Page(null, 7, 3).Wallets);
        var suspended = store.Page(WalletStatus.Suspended, 0, 10);
        Assert.Equal(["agent-1", "agent-4"], suspended.Wallets.Select(w => w.AgentId));
        Assert.Equal(2, suspended.Total);
        Assert.Equal(["agent-4"], store.Page(WalletStatus.Suspended, 1, 1).Wallets.Select(w => w.AgentId));
        Assert.All(first.Wallets, w => Assert.False(string.IsNullOrEmpty(w.EvmAddress) || string.IsNullOrEmpty(w.XrpAddress)));
        Assert.Equal(TestFiles.Expected()[2].EvmAddress, first.Wallets[2].EvmAddress);
        Assert.Throws<ArgumentOutOfRangeException>(() => store.Page(null, 0, WalletStore.MaxPageSize + 1));
    }
}
