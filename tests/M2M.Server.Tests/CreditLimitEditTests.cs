using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Server.Configuration;
using M2M.TestKit;

namespace M2M.Server.Tests;

/// <summary>
/// Issue 13 defect 3: an operator edits peers[].creditLimit and restarts. Every transition (none → limit,
/// larger, smaller than the balance, limit → none) must take effect exactly, seen from a real BTP peer,
/// with one log line old → new. Before the fix, adding a limit was not enforced and removing one left 0.
/// </summary>
[Trait("Tier", "integration")]
public class CreditLimitEditTests
{
    private const int LimitChangedEvent = 4002;

    private static ConnectorSettings Settings(string ledgerPath, ulong? aliceLimit) => TestConnector.TwoPeers() with
    {
        BindAddress = "127.0.0.1",
        BtpServerPort = 0,
        HealthCheckPort = 0,
        Ledger = new LedgerSettings { Path = ledgerPath },
        Peers =
        [
            new PeerSettings { Id = "alice", AuthToken = "alice-secret", CreditLimit = aliceLimit },
            new PeerSettings { Id = "bob", AuthToken = "bob-secret" },
        ],
    };

    /// <summary>What alice owes as the peers saw it: every Fulfill alice got for paying bob, less every one bob got for paying her.</summary>
    private sealed class Tally
    {
        public Int128 AliceOwes;

        public async Task Pay(TestPeer from, string to, ulong amount, string expected)
        {
            var reply = await from.SendAsync(TestPeer.Payment($"g.{to}.x", amount));
            Assert.Equal(expected, reply is IlpReject r ? r.Code : "fulfill");
            if (reply is IlpFulfill) AliceOwes += to == "bob" ? amount : -(Int128)amount;
        }
    }

    /// <summary>One run of the connector on the shared ledger file: alice and bob connect, the test drives packets, the books are audited.</summary>
    private static async Task<List<string>> RunAsync(string ledgerPath, ulong? aliceLimit, Tally tally, Func<TestPeer, TestPeer, Task> traffic)
    {
        var log = new LogCapture();
        using var loggers = log.Factory();
        await using (var host = await ConnectorHost.CreateAsync(Settings(ledgerPath, aliceLimit), loggers))
        {
            await host.StartAsync(CancellationToken.None);
            await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
            await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
            await traffic(alice, bob);
            var account = await host.Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("alice", PeerAccounts.LedgerFor("USD", 9)));
            Assert.Equal(-tally.AliceOwes, account!.PostedBalance);
            await Books.AssertConsistentAsync(host.Accounting.Ledger);
        }
        return log.Messages(LimitChangedEvent).ToList();
    }

    [Fact]
    public async Task Every_credit_limit_edit_takes_effect_exactly_on_restart_with_one_line_old_to_new()
    {
        string path = Path.Combine(Path.GetTempPath(), "m2m-tests", Guid.NewGuid().ToString("N"), "ledger.db");
        var t = new Tally();

        // No limit: alice may owe without bound.
        Assert.Empty(await RunAsync(path, null, t, (alice, _) => t.Pay(alice, "bob", 600, "fulfill")));

        // none → 1000: enforced at once (600 + 500 > 1000), exactly up to the boundary.
        var lines = await RunAsync(path, 1000, t, async (alice, _) =>
        {
            await t.Pay(alice, "bob", 500, "T04");
            await t.Pay(alice, "bob", 400, "fulfill");
            await t.Pay(alice, "bob", 1, "T04");
        });
        Assert.Equal("Credit limit of peer:alice:USD/9 changed from none to 1000 by the config (posted balance -600)", Assert.Single(lines));

        // 1000 → 2000 (larger).
        lines = await RunAsync(path, 2000, t, async (alice, _) =>
        {
            await t.Pay(alice, "bob", 1000, "fulfill");
            await t.Pay(alice, "bob", 1, "T04");
        });
        Assert.Equal("Credit limit of peer:alice:USD/9 changed from 1000 to 2000 by the config (posted balance -1000)", Assert.Single(lines));

        // 2000 → 1500, below what she owes (2000): nothing more until she is back within, then exactly up to 1500.
        lines = await RunAsync(path, 1500, t, async (alice, bob) =>
        {
            await t.Pay(alice, "bob", 1, "T04");
            await t.Pay(bob, "alice", 700, "fulfill"); // alice now owes 1300
            await t.Pay(alice, "bob", 201, "T04");
            await t.Pay(alice, "bob", 200, "fulfill");
        });
        Assert.Equal("Credit limit of peer:alice:USD/9 changed from 2000 to 1500 by the config (posted balance -2000)", Assert.Single(lines));

        // 1500 → none: unlimited again (before the fix: a limit of 0, every packet T04).
        lines = await RunAsync(path, null, t, (alice, _) => t.Pay(alice, "bob", 1_000_000, "fulfill"));
        Assert.Equal("Credit limit of peer:alice:USD/9 changed from 1500 to none by the config (posted balance -1500)", Assert.Single(lines));

        // The same config again: no change, no line.
        Assert.Empty(await RunAsync(path, null, t, (alice, _) => t.Pay(alice, "bob", 5, "fulfill")));
        Assert.Equal(1_001_505, t.AliceOwes);
    }
}
