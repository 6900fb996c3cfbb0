using System.Security.Cryptography;
using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Core.Switch;

namespace M2M.Core.Tests;

/// <summary>
/// The ledger step's two-leg rule (issue 13 defect 2) on the reference ledger: which transfers a Fulfill
/// books when the sender is gone before it arrives, or goes away after the post but before the reply.
/// The end-to-end form with real sockets is M2M.Server.Tests.TwoLegFulfillTests.
/// </summary>
[Trait("Tier", "unit")]
public class TwoLegLedgerStepTests
{
    private static readonly PeerDescriptor Alice = new("alice", PeerRelation.Peer, "USD", 9, null);
    private static readonly PeerDescriptor Bob = new("bob", PeerRelation.Peer, "USD", 9, null);
    private static readonly uint Usd = PeerAccounts.LedgerFor("USD", 9);

    /// <summary>Open for the first <paramref name="openChecks"/> questions, closed after.</summary>
    private sealed class ClosingPath(int openChecks) : IReplyPath
    {
        private int _asked;
        public bool IsOpen => Interlocked.Increment(ref _asked) <= openChecks;
    }

    private sealed class Observer : IUnrecoverableFulfillObserver
    {
        public List<(ulong Amount, string Reason)> Seen { get; } = [];
        public void UnrecoverableFulfill(string sourcePeer, string nextHop, ulong amount, string assetCode, byte assetScale, string reason) => Seen.Add((amount, reason));
    }

    private static async Task<(MemoryLedger Ledger, Observer Observer, IlpReply Reply)> RunAsync(IReplyPath? upstream)
    {
        var ledger = new MemoryLedger();
        await ledger.CreateAccountsAsync(
        [
            PeerAccounts.PeerAccount("alice", "USD", 9, null), PeerAccounts.PeerAccount("bob", "USD", 9, null),
            PeerAccounts.ClearingAccount("USD", 9), PeerAccounts.ConnectorLossAccount("USD", 9),
        ]);
        var observer = new Observer();
        var step = new LedgerStep(new SwitchOptions { IlpAddress = "g.conn" }, ledger, id => id == "bob" ? Bob : Alice, TimeProvider.System) { Unrecoverable = observer };
        var preimage = RandomNumberGenerator.GetBytes(32);
        var prepare = new IlpPrepare { Amount = 250, ExpiresAt = DateTimeOffset.UtcNow.AddSeconds(10), ExecutionCondition = SHA256.HashData(preimage), Destination = "g.bob.x" };
        var context = new PacketContext(prepare, Alice, DateTimeOffset.UtcNow, default) { Upstream = upstream, NextHop = "bob", OutgoingExpiresAt = DateTimeOffset.UtcNow.AddSeconds(9) };
        var reply = await step.InvokeAsync(context, _ => ValueTask.FromResult<IlpReply>(new IlpFulfill { Fulfillment = preimage }));
        return (ledger, observer, reply);
    }

    private static async Task<Int128> Balance(MemoryLedger ledger, UInt128 id) => (await ledger.LookupAccountAsync(id))!.PostedBalance;

    private static async Task AssertBooks(MemoryLedger ledger, Int128 alice, Int128 bob, Int128 loss)
    {
        Assert.Equal(alice, await Balance(ledger, PeerAccounts.PeerAccountId("alice", Usd)));
        Assert.Equal(bob, await Balance(ledger, PeerAccounts.PeerAccountId("bob", Usd)));
        Assert.Equal(loss, await Balance(ledger, PeerAccounts.ConnectorLossAccountId(Usd)));
        Assert.Equal(Int128.Zero, await Balance(ledger, PeerAccounts.ClearingAccountId(Usd)));
        var report = await LedgerVerifier.VerifyAsync(ledger, DateTimeOffset.UtcNow, TimeSpan.FromSeconds(1));
        Assert.True(report.IsConsistent, string.Join("\n", report.Violations));
        Assert.Equal(0, report.OpenPending);
    }

    [Fact]
    public async Task Sender_open_throughout_posts_both_legs_and_books_no_loss()
    {
        var (ledger, observer, reply) = await RunAsync(new ClosingPath(int.MaxValue));
        Assert.IsType<IlpFulfill>(reply);
        await AssertBooks(ledger, alice: -250, bob: 250, loss: 0);
        Assert.Empty(observer.Seen);
    }

    [Fact]
    public async Task Sender_gone_before_the_fulfill_posts_the_outgoing_leg_voids_the_incoming_and_books_the_loss()
    {
        var (ledger, observer, _) = await RunAsync(new ClosingPath(0));
        await AssertBooks(ledger, alice: 0, bob: 250, loss: -250);
        Assert.Equal((250UL, "the sender's connection was gone when the Fulfill arrived"), Assert.Single(observer.Seen));
    }

    [Fact]
    public async Task Sender_gone_after_the_post_but_before_the_reply_is_refunded_from_the_loss_account()
    {
        var (ledger, observer, _) = await RunAsync(new ClosingPath(1));
        await AssertBooks(ledger, alice: 0, bob: 250, loss: -250);
        Assert.Equal((250UL, "the Fulfill could not be sent back to the sender"), Assert.Single(observer.Seen));
    }
}
