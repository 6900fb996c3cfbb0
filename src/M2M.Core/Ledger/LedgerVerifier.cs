namespace M2M.Core.Ledger;

/// <summary>The result of checking the books: empty <see cref="Violations"/> means consistent.</summary>
public sealed record LedgerReport(int Accounts, long Transfers, long OpenPending, IReadOnlyList<string> Violations)
{
    public bool IsConsistent => Violations.Count == 0;
}

/// <summary>
/// Recomputes every account from the journal and checks the invariants of RELIABILITY.md:
/// per ledger Σ debits = Σ credits (posted and pending), each account's stored totals equal the
/// journal's, no account breaks its flags, and no pending transfer outlives its timeout + grace.
/// </summary>
public static class LedgerVerifier
{
    public static async Task<LedgerReport> VerifyAsync(ILedger ledger, DateTimeOffset now, TimeSpan orphanGrace, CancellationToken ct = default)
    {
        var accounts = await ledger.ListAccountsAsync(ct).ConfigureAwait(false);
        return await VerifyAsync(accounts, ledger.ReadJournalAsync(ct), now, orphanGrace).ConfigureAwait(false);
    }

    /// <summary>Checks accounts against a journal read from the same snapshot.</summary>
    public static async Task<LedgerReport> VerifyAsync(IReadOnlyList<Account> accounts, IAsyncEnumerable<(Transfer Transfer, PendingState? State)> journal, DateTimeOffset now, TimeSpan orphanGrace)
    {
        var recomputed = accounts.ToDictionary(a => a.Id, a => new Totals());
        var violations = new List<string>();
        long transfers = 0, open = 0;
        await foreach (var (t, state) in journal.ConfigureAwait(false))
        {
            transfers++;
            if (!recomputed.TryGetValue(t.DebitAccountId, out var debit) || !recomputed.TryGetValue(t.CreditAccountId, out var credit))
            {
                violations.Add($"transfer {t.Id:X} names an account that does not exist");
                continue;
            }
            if (t.Flags.HasFlag(TransferFlags.Pending))
            {
                if (state == PendingState.Open)
                {
                    open++;
                    debit.DebitsPending += t.Amount;
                    credit.CreditsPending += t.Amount;
                    if (t.TimeoutAt is { } timeout && timeout + orphanGrace < now)
                        violations.Add($"orphan: pending transfer {t.Id:X} timed out at {timeout:O} and is still open");
                }
            }
            else if (t.Flags.HasFlag(TransferFlags.PostPending) || t.Flags == TransferFlags.None || t.Flags == TransferFlags.Linked)
            {
                debit.DebitsPosted += t.Amount;
                credit.CreditsPosted += t.Amount;
            }
        }
        foreach (var a in accounts) CheckAccount(a, recomputed[a.Id], violations);
        foreach (var group in accounts.GroupBy(a => a.Ledger)) CheckDoubleEntry(group.Key, group.ToList(), violations);
        return new LedgerReport(accounts.Count, transfers, open, violations);
    }

    private static void CheckAccount(Account a, Totals journal, List<string> violations)
    {
        string name = string.IsNullOrEmpty(a.Name) ? $"{a.Id:X}" : a.Name;
        if ((a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted) != (journal.DebitsPending, journal.DebitsPosted, journal.CreditsPending, journal.CreditsPosted))
            violations.Add($"account {name}: stored totals (dp {a.DebitsPending}, dP {a.DebitsPosted}, cp {a.CreditsPending}, cP {a.CreditsPosted}) differ from the journal (dp {journal.DebitsPending}, dP {journal.DebitsPosted}, cp {journal.CreditsPending}, cP {journal.CreditsPosted})");
        if (a.Flags.HasFlag(AccountFlags.DebitsMustNotExceedCredits))
        {
            var allowed = a.CreditsPosted + a.DebitLimit;
            if (allowed >= a.CreditsPosted && a.DebitsPending + a.DebitsPosted > allowed)
                violations.Add($"account {name}: debits {a.DebitsPending + a.DebitsPosted} exceed credits {a.CreditsPosted} + limit {a.DebitLimit}");
        }
        if (a.Flags.HasFlag(AccountFlags.CreditsMustNotExceedDebits) && a.CreditsPending + a.CreditsPosted > a.DebitsPosted)
            violations.Add($"account {name}: credits {a.CreditsPending + a.CreditsPosted} exceed debits {a.DebitsPosted}");
    }

    private static void CheckDoubleEntry(uint ledger, List<Account> accounts, List<string> violations)
    {
        UInt128 dP = 0, cP = 0, dp = 0, cp = 0;
        foreach (var a in accounts)
        {
            dP += a.DebitsPosted;
            cP += a.CreditsPosted;
            dp += a.DebitsPending;
            cp += a.CreditsPending;
        }
        if (dP != cP) violations.Add($"ledger {ledger}: posted debits {dP} != posted credits {cP}");
        if (dp != cp) violations.Add($"ledger {ledger}: pending debits {dp} != pending credits {cp}");
    }

    private sealed class Totals
    {
        public UInt128 DebitsPending, DebitsPosted, CreditsPending, CreditsPosted;
    }
}
