using M2M.Core.Ilp;
using M2M.Core.Switch;

namespace M2M.Core.Tests;

/// <summary>The one reject-reason table: every reason has its ILP code, and the codes are the ones the steps used before the table.</summary>
[Trait("Tier", "unit")]
public class RejectReasonsTests
{
    [Fact]
    public void Every_reason_maps_to_a_known_ILP_code()
    {
        foreach (var reason in Enum.GetValues<RejectReason>())
        {
            string code = RejectReasons.Code(reason);
            Assert.Matches("^[FTR][0-9]{2}$", code);
            Assert.True(IlpErrorCode.Names.ContainsKey(code), $"{reason}: {code} is not an RFC 27 code");
        }
    }

    [Theory]
    [InlineData(RejectReason.Draining, "T03")]
    [InlineData(RejectReason.InternalError, "T00")]
    [InlineData(RejectReason.InvalidPacket, "F01")]
    [InlineData(RejectReason.IldcpNotChild, "F00")]
    [InlineData(RejectReason.AmountTooLarge, "F08")]
    [InlineData(RejectReason.Expired, "R00")]
    [InlineData(RejectReason.InsufficientTimeout, "R02")]
    [InlineData(RejectReason.NoRoute, "F02")]
    [InlineData(RejectReason.EchoInvalid, "F01")]
    [InlineData(RejectReason.RateLimited, "T05")]
    [InlineData(RejectReason.InFlightLimit, "T03")]
    [InlineData(RejectReason.InFlightValueLimit, "T04")]
    [InlineData(RejectReason.CreditLimitExceeded, "T04")]
    [InlineData(RejectReason.LedgerUnavailable, "T00")]
    [InlineData(RejectReason.PostFailed, "T00")]
    [InlineData(RejectReason.NextHopNotConnected, "T01")]
    [InlineData(RejectReason.WrongCondition, "F05")]
    [InlineData(RejectReason.FulfillAfterExpiry, "R00")]
    [InlineData(RejectReason.NoExchangeRate, "F02")]
    [InlineData(RejectReason.RatesStale, "T00")]
    [InlineData(RejectReason.NoRatesYet, "T00")]
    [InlineData(RejectReason.ConvertsToZero, "R01")]
    public void A_reject_carries_the_reasons_code_our_address_and_the_message(RejectReason reason, string code)
    {
        var reject = new SwitchOptions { IlpAddress = "g.conn" }.Reject(reason, "why");
        Assert.Equal((code, "g.conn", "why"), (reject.Code, reject.TriggeredBy, reject.Message));
    }
}
