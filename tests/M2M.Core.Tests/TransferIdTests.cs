using M2M.Core.Ledger;

namespace M2M.Core.Tests;

[Trait("Tier", "unit")]
public class TransferIdTests
{
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
