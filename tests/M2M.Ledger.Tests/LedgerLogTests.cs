using M2M.Core.Ledger;
using M2M.Ledger.Sqlite;

namespace M2M.Ledger.Tests;

/// <summary>The SQLite ledger's log record format: what is encoded is what replay applies.</summary>
[Trait("Tier", "unit")]
public sealed class LedgerLogTests
{
    private static readonly DateTimeOffset At = DateTimeOffset.FromUnixTimeMilliseconds(1_767_000_000_123);

    [Fact]
    public void A_batch_decodes_to_the_same_accounts_transfers_and_states()
    {
        var batch = new LedgerChanges();
        var account = new Account
        {
            Id = UInt128.MaxValue - 1, Ledger = 7, Code = 2, Flags = AccountFlags.DebitsMustNotExceedCredits, DebitLimit = UInt128.MaxValue,
            Name = "peer:zoë ✓", DebitsPending = 1, DebitsPosted = (UInt128)ulong.MaxValue + 5, CreditsPending = 3, CreditsPosted = 4, CreatedAt = At,
        };
        var pending = new Transfer { Id = 10, DebitAccountId = 1, CreditAccountId = 2, Amount = 99, Ledger = 7, Code = 1, Flags = TransferFlags.Pending, TimeoutAt = At.AddSeconds(30), CreatedAt = At };
        var post = new Transfer { Id = 11, DebitAccountId = 1, CreditAccountId = 2, Amount = 99, PendingId = 10, Ledger = 7, Code = 1, Flags = TransferFlags.PostPending, CreatedAt = At };
        batch.SetAccount(account);
        batch.Insert(pending, PendingState.Open);
        batch.Insert(post, null);
        batch.SetState(10, PendingState.Posted); // posted in the same batch: carried by the pending's record
        batch.SetState(4, PendingState.Voided); // a pending from an earlier batch

        var buffer = new byte[LedgerLog.MaxSize(batch)];
        int n = LedgerLog.Encode(batch, buffer);
        var decoded = new LedgerChanges();
        LedgerLog.Decode(buffer.AsSpan(0, n), decoded);

        Assert.Equal(account, Assert.Single(decoded.Accounts.Values));
        Assert.Equal([pending, post], decoded.Transfers);
        Assert.Equal(new Dictionary<UInt128, PendingState> { [10] = PendingState.Posted, [4] = PendingState.Voided }, decoded.States);
        Assert.Equal(new HashSet<UInt128> { 10, 11 }, decoded.Inserted);
    }

    [Fact]
    public void Rows_applied_in_order_keep_the_last_account_state_and_the_last_pending_state()
    {
        var first = new LedgerChanges();
        var a = new Account { Id = 1, Ledger = 1, Code = 1, Name = "a", DebitsPending = 5, CreatedAt = At };
        first.SetAccount(a);
        first.Insert(new Transfer { Id = 20, DebitAccountId = 1, CreditAccountId = 2, Amount = 5, Ledger = 1, Code = 1, Flags = TransferFlags.Pending, TimeoutAt = At, CreatedAt = At }, PendingState.Open);
        var second = new LedgerChanges();
        second.SetAccount(a with { DebitsPending = 0, DebitsPosted = 5 });
        second.SetState(20, PendingState.Posted);

        var replayed = new LedgerChanges();
        foreach (var row in new[] { first, second })
        {
            var buffer = new byte[LedgerLog.MaxSize(row)];
            LedgerLog.Decode(buffer.AsSpan(0, LedgerLog.Encode(row, buffer)), replayed);
        }

        Assert.Equal((UInt128)5, replayed.Accounts[1].DebitsPosted);
        Assert.Equal((UInt128)0, replayed.Accounts[1].DebitsPending);
        Assert.Equal(PendingState.Posted, replayed.States[20]);
        Assert.Single(replayed.Transfers);
    }

    [Fact]
    public void A_row_of_an_unknown_version_is_refused_with_a_clear_message()
    {
        var e = Assert.Throws<InvalidDataException>(() => LedgerLog.Decode([9, 1, 2], new LedgerChanges()));
        Assert.Contains("version 9", e.Message);
    }
}
