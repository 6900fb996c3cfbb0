using M2M.Core.Ledger;

namespace M2M.Core.Tests;

[Trait("Tier", "unit")]
public class TransferIdTests
{
    [Fact]
    public void Transfer_ids_from_many_threads_are_distinct_increasing_per_thread_and_carry_the_process_prefix()
    {
        var t0 = new DateTimeOffset(2026, 12, 2, 7, 0, 0, TimeSpan.Zero);
        var perThread = new UInt128[4][];
        Parallel.For(0, perThread.Length, i => perThread[i] = Enumerable.Range(0, 20_000).Select(_ => PeerAccounts.NewTransferId(t0)).ToArray());

        var all = perThread.SelectMany(x => x).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.All(perThread, ids => Assert.True(ids.Zip(ids.Skip(1)).All(p => p.First < p.Second)));
        Assert.All(all, id => Assert.Equal(PeerAccounts.ProcessPrefix, (uint)(id >> 48)));
    }

    [Fact]
    public void Every_transfer_code_lives_in_TransferIds_and_only_import_shares_one()
    {
        var codes = typeof(TransferIds).GetFields().Where(f => f.IsLiteral && f.Name.EndsWith("Code", StringComparison.Ordinal))
            .ToDictionary(f => f.Name, f => (ushort)f.GetRawConstantValue()!);
        Assert.Equal(new Dictionary<string, ushort>
        {
            ["PacketCode"] = 1, ["SettlementCode"] = 2, ["ClaimCode"] = 3, ["EngineCreditCode"] = 4, ["ImportCode"] = 4,
            ["BtpTransferCode"] = 5, ["UnrecoverableFulfillCode"] = 6,
        }, codes);
        // PeerAccounts keeps account codes only.
        Assert.All(typeof(PeerAccounts).GetFields().Where(f => f.IsLiteral && f.Name.EndsWith("Code", StringComparison.Ordinal)),
            f => Assert.EndsWith("AccountCode", f.Name, StringComparison.Ordinal));
    }

    [Fact]
    public void Account_ids_are_derived_once_and_equal_the_name_hash_on_every_call()
    {
        uint ledger = PeerAccounts.LedgerFor("USD", 9);
        Assert.Equal(ledger, PeerAccounts.LedgerFor("USD", 9));
        Assert.NotEqual(ledger, PeerAccounts.LedgerFor("USD", 6));
        var alice = PeerAccounts.PeerAccountId("alice", ledger);
        Assert.Equal(alice, PeerAccounts.PeerAccountId("alice", ledger));
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"m2m:peer:alice:{ledger}"));
        Assert.Equal(new UInt128(BitConverter.ToUInt64(hash), BitConverter.ToUInt64(hash, 8)), alice);
        Assert.Equal(alice, PeerAccounts.PeerAccount("alice", "USD", 9, null).Id);
        Assert.NotEqual(alice, PeerAccounts.PeerAccountId("bob", ledger));
        Assert.Equal(PeerAccounts.ClearingAccountId(ledger), PeerAccounts.ClearingAccount("USD", 9).Id);
    }

    [Fact]
    public void Transfer_ids_are_ordered_by_their_millisecond_and_unique_within_one()
    {
        var t0 = new DateTimeOffset(2026, 11, 24, 19, 0, 0, TimeSpan.Zero);
        var earlier = Enumerable.Range(0, 50_000).Select(_ => PeerAccounts.NewTransferId(t0)).ToList();
        var later = PeerAccounts.NewTransferId(t0.AddMilliseconds(1));

        Assert.Equal(earlier.Count, earlier.Distinct().Count());
        Assert.All(earlier, id => Assert.True(id < later));
        Assert.All(earlier, id => Assert.Equal((ulong)t0.ToUnixTimeMilliseconds(), (ulong)(id >> 80)));
        Assert.NotEqual(UInt128.Zero, PeerAccounts.NewTransferId(DateTimeOffset.UnixEpoch));
    }
}
