using M2M.Core.Progress;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace M2M.Core.Tests;

[Trait("Tier", "unit")]
public class WorkProgressTests
{
    [Fact]
    public void Plain_progress_prints_a_line_at_the_start_at_most_one_per_interval_and_one_at_the_end_with_rate_and_eta()
    {
        var clock = new FakeTimeProvider();
        var lines = new List<string>();
        var progress = new PlainProgress(lines.Add, clock, TimeSpan.FromSeconds(2));

        using var step = progress.Begin("backup: ledger: copy", 400L << 20, WorkUnit.Bytes);
        Assert.Equal("backup: ledger: copy: 0 of 400 MiB", Assert.Single(lines));

        clock.Advance(TimeSpan.FromSeconds(1));
        step.Report(50L << 20);
        Assert.Single(lines); // within the interval: nothing

        clock.Advance(TimeSpan.FromSeconds(1));
        step.Report(100L << 20);
        Assert.Equal("backup: ledger: copy: 100 MiB of 400 MiB (25 %), 50 MiB/s, ETA 6.0 s", lines[1]);

        clock.Advance(TimeSpan.FromSeconds(6));
        step.Complete(400L << 20);
        step.Complete(400L << 20); // once only
        Assert.Equal(["backup: ledger: copy: 0 of 400 MiB", lines[1], "backup: ledger: copy: done, 400 MiB in 8.0 s, 50 MiB/s"], lines);
    }

    [Fact]
    public void Unknown_totals_and_item_counts_are_shown_without_percent_or_eta()
    {
        var clock = new FakeTimeProvider();
        var lines = new List<string>();
        var progress = new PlainProgress(lines.Add, clock, TimeSpan.FromSeconds(2));
        using var step = progress.Begin("backup: ledger: pg_dump", 0, WorkUnit.Bytes);
        clock.Advance(TimeSpan.FromSeconds(4));
        step.Report(3L << 30);
        using var items = progress.Begin("verify: ledger: invariants", 1_000_000, WorkUnit.Items);
        clock.Advance(TimeSpan.FromSeconds(20));
        items.Report(250_000);
        Assert.Equal(
            ["backup: ledger: pg_dump: started", "backup: ledger: pg_dump: 3.0 GiB, 768 MiB/s", "verify: ledger: invariants: 0 of 1,000,000",
             "verify: ledger: invariants: 250,000 of 1,000,000 (25 %), 12,500/s, ETA 60 s"], lines);
    }
}
