using M2M.Core.Ledger;
using Xunit;

namespace M2M.TestKit;

/// <summary>The ledger check every money test ends with: `ledger verify`'s verifier, run now, must find nothing.</summary>
public static class Books
{
    /// <summary>Asserts the books are consistent (Σ = 0, limits, no orphan past 1 s) and returns the report for further checks.</summary>
    public static async Task<LedgerReport> AssertConsistentAsync(ILedger ledger)
    {
        var report = await LedgerVerifier.VerifyAsync(ledger, DateTimeOffset.UtcNow, TimeSpan.FromSeconds(1));
        Assert.True(report.IsConsistent, string.Join("\n", report.Violations));
        return report;
    }
}
