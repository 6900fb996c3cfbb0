using M2M.Core.Ledger;
using M2M.Core.Switch;
using M2M.Server.Accounting;
using Microsoft.Extensions.Logging;

namespace M2M.Server;

/// <summary>
/// The doubtful-post journal (docs/reliability.md): a Fulfill answered T00 with its post's outcome
/// unknown is recorded in the ledger's store (table doubtful_posts; <see cref="DoubtfulPostTable"/>), so a
/// restart of this or any node finishes making the books match the T00 (void, or reverse a post that
/// landed). A host on a ledger without that table (tests with an injected ledger) keeps the file journal.
/// </summary>
public sealed partial class ConnectorHost
{
    private LedgerStep? _ledgerStep;

    /// <summary>The journal; its open records are the doubtful posts not yet resolved.</summary>
    public IDoubtfulPostJournal? DoubtfulPosts { get; private set; }

    /// <summary>The start-up replay of the journal (how many records it resolved); completes at once when none were open.</summary>
    public Task<int> DoubtfulReplay { get; private set; } = Task.FromResult(0);

    private LedgerStep CreateLedgerStep(SwitchOptions options, ILedger ledger)
    {
        string file = ConnectorSettlement.SiblingPath(_settings, DoubtfulPostFile.FileName);
        var log = _loggers.CreateLogger("M2M.Ledger");
        IDoubtfulPostJournal journal = (IDoubtfulPostJournal?)DoubtfulPostTable.TryOpen(_settings, file, log) ?? DoubtfulPostFile.OpenFile(file, log);
        DoubtfulPosts = journal;
        var open = Prometheus.Metrics.WithCustomRegistry(Metrics.Registry)
            .CreateGauge("ledger_doubtful_posts_open", "Fulfills answered T00 whose post outcome is not yet reconciled with the ledger (doubtful-post journal). Should return to 0.");
        Metrics.Registry.AddBeforeCollectCallback(() => open.Set(journal.Open.Count));
        return _ledgerStep = new LedgerStep(options, ledger, Peers.Describe, _time, Metrics)
        {
            Journal = journal,
            Unrecoverable = new Observability.UnrecoverableFulfills(Metrics, _loggers.CreateLogger("M2M.Ledger")),
        };
    }

    /// <summary>Resolves what a previous run left open, in the background (it retries while the ledger is down).</summary>
    private void StartDoubtfulReplay()
    {
        if (_ledgerStep is not null) DoubtfulReplay = _ledgerStep.ReplayDoubtfulPostsAsync(_stopping.Token);
    }

    /// <summary>After _stopping is cancelled: the replay ends (its open records stay in the journal) before the ledger closes.</summary>
    private async Task StopDoubtfulReplayAsync()
    {
        try { await DoubtfulReplay.ConfigureAwait(false); }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or LedgerUnavailableException) { }
    }
}
