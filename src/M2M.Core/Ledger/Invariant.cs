namespace M2M.Core.Ledger;

/// <summary>
/// Always-on assertions for ledger invariants (Debug.Assert is compiled out of release builds).
/// A broken invariant means the books can no longer be trusted: stop rather than continue.
/// </summary>
public static class Invariant
{
    public static void Check(bool condition, string message)
    {
        if (!condition) throw new LedgerInvariantException(message);
    }

    /// <summary>For messages that would cost a formatted string on every successful check: <c>if (!ok) Invariant.Fail($"…")</c>.</summary>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public static void Fail(string message) => throw new LedgerInvariantException(message);
}

public sealed class LedgerInvariantException(string message) : Exception("ledger invariant broken: " + message);
