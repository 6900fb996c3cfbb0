using Microsoft.Extensions.Time.Testing;

namespace M2M.Wallets.Tests;

[Trait("Tier", "integration")]
public class StoreTests
{
    private static WalletStoreOptions Fast(string? mnemonic = null, TimeProvider? time = null) =>
        new() { Iterations = TestFiles.FastIterations, ImportMnemonic = mnemonic, TimeProvider = time ?? TimeProvider.System };

    [Fact]
    public async Task Create_is_idempotent_and_assigns_sequential_indexes()
    {
        using var dir = new TempDir();
        var path = dir.File("data/wallet/agent-wallets.db");
        using var store = WalletStore.Open(path, "pw", Fast(TestFiles.TestMnemonic));
        var a = await store.CreateAsync("agent-a");
        var b = await store.CreateAsync("agent-b");
        var a2 = await store.CreateAsync("agent-a");
        Assert.Equal(0, a.DerivationIndex);
        Assert.Equal(1, b.DerivationIndex);
        Assert.Equal(a, a2);
        Assert.Equal(WalletStatus.Active, a.Status);
        Assert.Equal(2, store.List().Count);
        Assert.Equal(4, TestFiles.Count(path, "SELECT count(*) FROM wallets"));
        Assert.Equal(2, TestFiles.Count(path, "SELECT count(*) FROM wallet_audit WHERE action = 'created'"));
        Assert.Equal(2, TestFiles.Count(path, "SELECT version FROM schema_version"));
        // Same mnemonic as the 1.x fixture: index i gives the fixture's addresses.
        var expected = TestFiles.Expected();
        Assert.Equal(expected[0].EvmAddress, a.EvmAddress);
        Assert.Equal(expected[1].XrpAddress, b.XrpAddress);
        Assert.Equal(a, store.Get("agent-a"));
        Assert.Null(store.Get("nobody"));
    }

    [Fact]
    public async Task Reopen_with_password_restores_the_same_addresses()
    {
        using var dir = new TempDir();
        var path = dir.File("agent-wallets.db");
        AgentWallet first;
        string words;
        using (var store = WalletStore.Open(path, "pw", Fast()))
        {
            first = await store.CreateAsync("agent-x");
            words = store.ExportMnemonic();
            Assert.Equal(24, words.Split(' ').Length);
        }
        using (var again = WalletStore.Open(path, "pw", Fast()))
        {
            Assert.Equal(first, again.Get("agent-x"));
            var next = await again.CreateAsync("agent-y");
            Assert.Equal(1, next.DerivationIndex);
        }
        // Restore into a new file from the mnemonic: same agent order → same addresses.
        var restored = dir.File("restored.db");
        using var r = WalletStore.Open(restored, "other-pw", Fast(words));
        var x = await r.CreateAsync("agent-x");
        Assert.Equal(first.EvmAddress, x.EvmAddress);
        Assert.Equal(first.XrpAddress, x.XrpAddress);
    }

    [Fact]
    public async Task Wrong_password_is_a_clear_error_and_the_file_is_unchanged()
    {
        using var dir = new TempDir();
        var path = dir.File("agent-wallets.db");
        using (var store = WalletStore.Open(path, "right", Fast()))
            await store.CreateAsync("agent-a");
        var before = TestFiles.Sha256(path);
        var e = Assert.Throws<WalletPasswordException>(() => WalletStore.Open(path, "wrong", Fast()));
        Assert.Equal("wrong wallet password", e.Message);
        Assert.Equal(before, TestFiles.Sha256(path));
        Assert.False(File.Exists(path + "-journal"));
        using var ok = WalletStore.Open(path, "right", Fast());
        Assert.NotNull(ok.Get("agent-a"));
    }

    [Fact]
    public async Task Lifecycle_transitions_and_audit()
    {
        using var dir = new TempDir();
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z"));
        using var store = WalletStore.Open(dir.File("w.db"), "pw", Fast(time: time));
        await store.CreateAsync("a");
        time.Advance(TimeSpan.FromMinutes(1));
        var s = store.Suspend("a", "fraud check");
        Assert.Equal(WalletStatus.Suspended, s.Status);
        Assert.Equal(time.GetUtcNow(), s.UpdatedAt);
        Assert.Equal(WalletStatus.Active, store.Reactivate("a").Status);
        store.Suspend("a");
        Assert.Equal(WalletStatus.Archived, store.Archive("a", "retired").Status);

        var e1 = Assert.Throws<WalletTransitionException>(() => store.Reactivate("a"));
        Assert.Contains("archived", e1.Message);
        Assert.Contains("not allowed", e1.Message);
        Assert.Throws<WalletTransitionException>(() => store.Suspend("a"));
        Assert.Contains("already archived", Assert.Throws<WalletTransitionException>(() => store.Archive("a")).Message);

        await store.CreateAsync("b");
        Assert.Contains("already active", Assert.Throws<WalletTransitionException>(() => store.Reactivate("b")).Message);
        store.Suspend("b");
        Assert.Contains("already suspended", Assert.Throws<WalletTransitionException>(() => store.Suspend("b")).Message);
        Assert.Throws<WalletNotFoundException>(() => store.Suspend("nobody"));

        var audit = store.AuditTrail("a").Select(x => x.Action).ToList();
        Assert.Equal(["created", "suspended", "reactivated", "suspended", "archived"], audit);
        Assert.Contains("fraud check", store.AuditTrail("a")[1].Detail);
        Assert.Equal("suspended -> archived; reason: retired", store.AuditTrail("a")[4].Detail);

        Assert.Single(store.List(WalletStatus.Archived));
        Assert.Single(store.List(WalletStatus.Suspended));
        Assert.Empty(store.List(WalletStatus.Active));
        // A refused transition changed nothing (no audit row, same status).
        Assert.Equal(WalletStatus.Archived, store.Get("a")!.Status);
    }

    [Fact]
    public void Opening_a_1_0_store_is_refused_with_a_migrate_hint()
    {
        using var dir = new TempDir();
        var path = TestFiles.CopyFixture(dir);
        var before = TestFiles.Sha256(path);
        var e = Assert.Throws<WalletStoreException>(() => WalletStore.Open(path, "pw", Fast()));
        Assert.Contains("1.0", e.Message);
        Assert.Contains("migrate-wallet", e.Message);
        Assert.Equal(before, TestFiles.Sha256(path));
    }

    [Fact]
    public async Task Bad_agent_ids_are_refused()
    {
        using var dir = new TempDir();
        using var store = WalletStore.Open(dir.File("w.db"), "pw", Fast());
        await Assert.ThrowsAsync<ArgumentException>(() => store.CreateAsync(" "));
        await Assert.ThrowsAsync<ArgumentException>(() => store.CreateAsync(" padded"));
    }
}
