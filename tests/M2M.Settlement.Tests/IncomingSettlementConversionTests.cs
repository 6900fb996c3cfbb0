using System.Numerics;
using M2M.Settlement.Rfc38;

namespace M2M.Settlement.Tests;

/// <summary>RFC 38 scale conversion of incoming settlements: exact, with leftover sub-units carried to the next one.</summary>
public sealed class IncomingSettlementConversionTests
{
    [Theory]
    [Trait("Tier", "unit")]
    [InlineData("120037", 11, 9, 1200UL, "37", 11)]
    [InlineData("5", 2, 9, 50_000_000UL, "0", 0)]
    [InlineData("999", 12, 9, 0UL, "999", 12)]
    [InlineData("0", 9, 9, 0UL, "0", 0)]
    public void Converts_to_the_account_scale_and_keeps_the_rest(string amount, int scale, int accountScale, ulong credit, string left, int leftScale)
    {
        var (c, l) = IncomingSettlements.Convert(BigInteger.Parse(amount), (byte)scale, Leftover.None, (byte)accountScale);
        Assert.Equal(credit, c);
        Assert.Equal((BigInteger.Parse(left), (byte)leftScale), (l.Amount, l.Scale));
    }

    [Fact]
    [Trait("Tier", "unit")]
    public void A_credit_beyond_the_ledger_range_is_refused_not_wrapped() =>
        Assert.Throws<IncomingSettlementException>(() => IncomingSettlements.Convert(BigInteger.Parse("480049245"), 1, Leftover.None, 18));

    [Fact]
    [Trait("Tier", "unit")]
    public void A_sequence_of_settlements_credits_exactly_their_sum_and_never_loses_a_sub_unit()
    {
        var random = new Random(15);
        for (int run = 0; run < 2_000; run++)
        {
            byte accountScale = (byte)random.Next(0, 19);
            var leftover = Leftover.None;
            BigInteger sentAt18 = 0, creditedAt18 = 0;
            for (int i = 0; i < 20; i++)
            {
                // At most 10^9 units times 10^9: always fits the ledger's u64 (the overflow case is tested below).
                byte scale = (byte)random.Next(Math.Max(0, accountScale - 9), 19);
                var amount = new BigInteger(random.NextInt64(0, 1_000_000_000));
                var (credit, left) = IncomingSettlements.Convert(amount, scale, leftover, accountScale);
                sentAt18 += amount * BigInteger.Pow(10, 18 - scale);
                creditedAt18 += credit * BigInteger.Pow(10, 18 - accountScale);
                Assert.True(left.Scale <= 18 && (left.Amount.IsZero || left.Scale > accountScale), $"leftover {left} kept though the account scale {accountScale} could hold it");
                Assert.True(left.Amount < BigInteger.Pow(10, Math.Max(0, left.Scale - accountScale)), $"leftover {left} is a whole unit or more");
                leftover = left;
            }
            Assert.Equal(sentAt18, creditedAt18 + leftover.Amount * BigInteger.Pow(10, 18 - leftover.Scale));
        }
    }
}
