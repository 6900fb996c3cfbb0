using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Core.Switch;
using M2M.Ledger.Sqlite;
using M2M.Server.Accounting;
using M2M.Server.Configuration;
using M2M.TestKit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Server.Tests;

/// <summary>
/// The doubtful-post journal (issue 8): a Fulfill answered T00 with its post's outcome unknown is
/// resolved again after a restart, so a post that landed never stays posted behind a T00.
/// Real journal files and a real SQLite ledger.
/// </summary>
[Trait("Tier", "integration")]
public sealed class DoubtfulPostJournalTests : IAsyncLifetime
{
    private static readonly uint Usd = PeerAccounts.LedgerFor("USD", 9);
    private static readonly UInt128 Alice = PeerAccounts.PeerAccountId("alice", Usd);
    private static readonly UInt128 Bob = PeerAccounts.PeerAccountId("bob", Usd);
    private static readonly UInt128 Clearing = PeerAccounts.ClearingAccountId(Usd);

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "m2m-tests", "doubtful-" + Guid.NewGuid().ToString("N"));
    private readonly ListLogger _log = new();
    private SqliteLedger _ledger = null!;

    private string JournalPath => Path.Combine(_dir, DoubtfulPostFile.FileName);

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _ledger = SqliteLedger.Open(Path.Combine(_dir, "ledger.db"));
        await _ledger.CreateAccountsAsync(
        [
            PeerAccounts.PeerAccount("alice", "USD", 9, null),
            PeerAccounts.PeerAccount("bob", "USD", 9, null),
            PeerAccounts.ClearingAccount("USD", 9),
        ]);
    }

    public async Task DisposeAsync()
    {
        await _ledger.DisposeAsync();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private enum Fate { Posted, Pending, Voided }

    /// <summary>Reserves a pair as LedgerStep does, then posts, voids or leaves it; returns its journal record.</summary>
    private Task<DoubtfulPost> Pair(ulong amount, Fate fate) => Pair(_ledger, amount, fate);

    private static async Task<DoubtfulPost> Pair(ILedger ledger, ulong amount, Fate fate)
    {
        var incoming = Pending(Alice, Clearing, amount, TransferFlags.Linked);
        var outgoing = Pending(Clearing, Bob, amount, TransferFlags.None);
        Assert.All(await ledger.CreateTransfersAsync([incoming, outgoing]), r => Assert.Equal(CreateTransferResult.Ok, r));
        Transfer[] posts = [Resolve(incoming, TransferFlags.PostPending | TransferFlags.Linked), Resolve(outgoing, TransferFlags.PostPending)];
        if (fate == Fate.Posted) Assert.All(await ledger.CreateTransfersAsync(posts), r => Assert.Equal(CreateTransferResult.Ok, r));
        if (fate == Fate.Voided)
            Assert.All(await ledger.CreateTransfersAsync([Resolve(incoming, TransferFlags.VoidPending | TransferFlags.Linked), Resolve(outgoing, TransferFlags.VoidPending)]),
                r => Assert.Equal(CreateTransferResult.Ok, r));
        return DoubtfulPost.For(incoming, outgoing, posts, DateTimeOffset.UtcNow);
    }

    private static Transfer Pending(UInt128 debit, UInt128 credit, ulong amount, TransferFlags extra) => new()
    {
        Id = PeerAccounts.NewTransferId(),
        DebitAccountId = debit,
        CreditAccountId = credit,
        Amount = amount,
        Ledger = Usd,
        Code = TransferIds.PacketCode,
        Flags = TransferFlags.Pending | extra,
        TimeoutAt = DateTimeOffset.UtcNow.AddHours(1),
    };

    private static Transfer Resolve(Transfer pending, TransferFlags flags) =>
        new() { Id = PeerAccounts.NewTransferId(), PendingId = pending.Id, Flags = flags, Code = TransferIds.PacketCode };

    private async Task<(Int128 Alice, Int128 Bob, UInt128 Pending)> Books()
    {
        var a = (await _ledger.LookupAccountAsync(Alice))!;
        var b = (await _ledger.LookupAccountAsync(Bob))!;
        return (a.PostedBalance, b.PostedBalance, a.DebitsPending + b.CreditsPending);
    }

    private LedgerStep Step(IDoubtfulPostJournal journal) =>
        new(new SwitchOptions { IlpAddress = "g.conn" }, _ledger, _ => null, TimeProvider.System) { Journal = journal };

    private async Task<int> Replay()
    {
        var journal = DoubtfulPostFile.OpenFile(JournalPath, _log);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        return await Step(journal).ReplayDoubtfulPostsAsync(cts.Token);
    }

    [Fact]
    public async Task A_converted_pair_is_journaled_with_its_outgoing_leg_and_reversed_on_each_ledger()
    {
        // Issue 16 exchange: the legs have different amounts on different ledgers (USD/9 in, XRP/6 out).
        uint xrp = PeerAccounts.LedgerFor("XRP", 6);
        await _ledger.CreateAccountsAsync([PeerAccounts.PeerAccount("xbob", "XRP", 6, null), PeerAccounts.ClearingAccount("XRP", 6)]);
        var incoming = Pending(Alice, Clearing, 1_000_000_000, TransferFlags.Linked);
        var outgoing = Pending(PeerAccounts.ClearingAccountId(xrp), PeerAccounts.PeerAccountId("xbob", xrp), 1_996_000, TransferFlags.None) with { Ledger = xrp };
        Assert.All(await _ledger.CreateTransfersAsync([incoming, outgoing]), r => Assert.Equal(CreateTransferResult.Ok, r));
        Transfer[] posts = [Resolve(incoming, TransferFlags.PostPending | TransferFlags.Linked), Resolve(outgoing, TransferFlags.PostPending)];
        Assert.All(await _ledger.CreateTransfersAsync(posts), r => Assert.Equal(CreateTransferResult.Ok, r));
        var record = DoubtfulPost.For(incoming, outgoing, posts, DateTimeOffset.UtcNow);
        Assert.Equal((1_996_000UL, xrp), (record.OutgoingAmount, record.OutgoingLedger));
        await File.WriteAllTextAsync(JournalPath, DoubtfulPostFile.DoubtfulLine(record));
        Assert.Equal(record, Assert.Single(DoubtfulPostFile.OpenFile(JournalPath, _log).Open));

        Assert.Equal(1, await Replay());

        var bob = (await _ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("xbob", xrp)))!;
        Assert.Equal(((Int128)0, (Int128)0), ((await Books()).Alice, bob.PostedBalance));
        Assert.True((await LedgerVerifier.VerifyAsync(_ledger, DateTimeOffset.UtcNow, TimeSpan.FromMinutes(1))).IsConsistent);
        // A record of an unconverted pair has no outgoing fields: journals from before exchange rates read the same.
        Assert.DoesNotContain("outgoingAmount", DoubtfulPostFile.DoubtfulLine(await Pair(5, Fate.Voided)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replay_reverses_a_posted_pair_voids_a_pending_one_leaves_a_voided_one_and_is_idempotent()
    {
        await Pair(7, Fate.Posted); // a fulfilled packet before the doubtful ones: the books must come back to it
        var before = await Books();
        Assert.Equal(((Int128)(-7), (Int128)7, UInt128.Zero), before);
        var journal = DoubtfulPostFile.OpenFile(JournalPath, _log);
        Assert.True(journal.TryAppend(await Pair(100, Fate.Posted)));
        Assert.True(journal.TryAppend(await Pair(20, Fate.Pending)));
        Assert.True(journal.TryAppend(await Pair(3, Fate.Voided)));
        Assert.Equal(((Int128)(-107), (Int128)107, (UInt128)40), await Books());
        string written = await File.ReadAllTextAsync(JournalPath);
        Assert.Equal(3, written.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

        Assert.Equal(3, await Replay()); // a "restart": a new journal object reads the file

        Assert.Equal(before, await Books());
        Assert.Empty(DoubtfulPostFile.OpenFile(JournalPath, _log).Open);
        Assert.Equal("", await File.ReadAllTextAsync(JournalPath)); // compacted
        Assert.False(File.Exists(JournalPath + ".tmp"));

        // Killed after the reversal committed but before "resolved" reached the file: the same
        // records again must not reverse twice (fixed reversal ids: Exists).
        await File.WriteAllTextAsync(JournalPath, written);
        Assert.Equal(3, await Replay());
        Assert.Equal(before, await Books());
        Assert.Equal(0, await Replay()); // nothing left
        Assert.Equal(before, await Books());
        var report = await M2M.TestKit.Books.AssertConsistentAsync(_ledger);
        Assert.Equal(0, report.OpenPending);
    }

    [Fact]
    public async Task A_torn_last_line_is_ignored_with_a_warning_and_the_next_append_is_not_glued_to_it()
    {
        var posted = await Pair(50, Fate.Posted);
        await File.WriteAllTextAsync(JournalPath, DoubtfulPostFile.DoubtfulLine(posted) + DoubtfulPostFile.DoubtfulLine(await Pair(9, Fate.Pending))[..40]);

        var journal = DoubtfulPostFile.OpenFile(JournalPath, _log);
        Assert.Equal([posted.IncomingId], journal.Open.Select(p => p.IncomingId));
        Assert.Contains(_log.Lines, l => l.Level == LogLevel.Warning && l.Text.Contains("line 2 is torn", StringComparison.Ordinal));
        var later = await Pair(4, Fate.Pending);
        Assert.True(journal.TryAppend(later)); // after the torn tail: must start on its own line

        var reread = DoubtfulPostFile.OpenFile(JournalPath, _log);
        Assert.Equal(new[] { posted.IncomingId, later.IncomingId }.Order(), reread.Open.Select(p => p.IncomingId).Order());
        Assert.Equal(2, await Replay());
        var (alice, bob, _) = await Books();
        Assert.Equal(((Int128)0, (Int128)0), (alice, bob)); // the posted 50 reversed
    }

    [Fact]
    public async Task A_corrupt_line_in_the_middle_is_reported_and_skipped_never_a_crash()
    {
        var first = await Pair(11, Fate.Pending);
        var third = await Pair(12, Fate.Posted);
        await File.WriteAllTextAsync(JournalPath, DoubtfulPostFile.DoubtfulLine(first) + "{\"type\":\"doubtful\",\"incoming\":\"not a number\"}\n\u0000garbage\n" + DoubtfulPostFile.DoubtfulLine(third));

        var journal = DoubtfulPostFile.OpenFile(JournalPath, _log);

        Assert.Equal(2, journal.Open.Count);
        Assert.Equal(2, _log.Lines.Count(l => l.Level == LogLevel.Error && l.Text.Contains("is corrupt and skipped", StringComparison.Ordinal)));
        Assert.Contains(_log.Lines, l => l.Text.Contains("line 3 is corrupt", StringComparison.Ordinal));
        Assert.Equal(2, await Replay());
        Assert.Equal(((Int128)0, (Int128)0, UInt128.Zero), await Books());
    }

    [Fact]
    public async Task An_unwritable_journal_is_logged_and_the_record_is_still_resolved_in_memory()
    {
        Directory.CreateDirectory(JournalPath); // a directory where the file should be: every append fails
        var journal = DoubtfulPostFile.OpenFile(Path.Combine(JournalPath), _log);
        Assert.False(journal.TryAppend(await Pair(5, Fate.Pending)));
        Assert.Contains(_log.Lines, l => l.Level == LogLevel.Error && l.Text.Contains("Could not write the doubtful-post journal", StringComparison.Ordinal));
        Assert.Single(journal.Open);
    }

    [Fact]
    public async Task A_connector_stopped_while_the_ledger_is_down_reverses_the_landed_post_on_restart()
    {
        var settings = TestConnector.WithTempLedger(TestConnector.TwoPeers() with
        {
            Ledger = new LedgerSettings { Path = Path.Combine(_dir, "connector", "ledger.db") },
            BindAddress = "127.0.0.1",
            BtpServerPort = 0,
            HealthCheckPort = 0,
        });
        string journalPath = Path.Combine(_dir, "connector", DoubtfulPostFile.FileName);
        var dying = new FlakyLedger(SqliteLedger.Open(settings.Ledger.Path));
        await using (var host = await ConnectorHost.CreateAsync(settings, NullLoggerFactory.Instance, openLedger: _ => dying))
        {
            await host.StartAsync(CancellationToken.None);
            await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
            await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
            Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 7)));
            dying.DieAfterNextPost = true;

            var reject = Assert.IsType<IlpReject>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 5, expiresInSeconds: 4)));

            Assert.Equal("T00", reject.Code);
            Assert.True(dying.PostLanded);
            Assert.Single(host.DoubtfulPosts!.Open);
            using var http = new HttpClient();
            Assert.Contains("ledger_doubtful_posts_open 1", await http.GetStringAsync($"http://127.0.0.1:{host.HealthPort}/metrics"));
        } // stopped with the ledger still down: the in-memory resolution never ran

        // The record is in the ledger's own store (issue 15), not in a file beside it.
        Assert.False(File.Exists(journalPath));
        Assert.Equal((1L, 1L), OpenRows(settings.Ledger.Path));
        await using (var host = await ConnectorHost.CreateAsync(settings, NullLoggerFactory.Instance))
        {
            await host.StartAsync(CancellationToken.None);
            Assert.Equal(1, await host.DoubtfulReplay.WaitAsync(TimeSpan.FromSeconds(20)));
            var a = (await host.Accounting.Ledger.LookupAccountAsync(Alice))!;
            var b = (await host.Accounting.Ledger.LookupAccountAsync(Bob))!;
            Assert.Equal(((Int128)(-7), (Int128)7), (a.PostedBalance, b.PostedBalance)); // only the fulfilled packet
            Assert.Empty(host.DoubtfulPosts!.Open);
            using var http = new HttpClient();
            Assert.Contains("ledger_doubtful_posts_open 0", await http.GetStringAsync($"http://127.0.0.1:{host.HealthPort}/metrics"));
        }
        Assert.Equal((0L, 0L), OpenRows(settings.Ledger.Path)); // resolved, then compacted
        Assert.False(File.Exists(journalPath));
    }

    [Fact]
    public async Task A_journal_file_from_an_earlier_release_is_imported_into_the_ledger_once_and_replayed()
    {
        var settings = TestConnector.WithTempLedger(TestConnector.TwoPeers() with
        {
            Ledger = new LedgerSettings { Path = Path.Combine(_dir, "upgrade", "ledger.db") },
            BindAddress = "127.0.0.1",
            BtpServerPort = 0,
            HealthCheckPort = 0,
        });
        string journalPath = Path.Combine(_dir, "upgrade", DoubtfulPostFile.FileName);
        // The 2.0 layout: a posted pair behind a T00 and a pending one, journaled in the file beside the ledger.
        await using (var ledger = SqliteLedger.Open(settings.Ledger.Path))
        {
            await ledger.CreateAccountsAsync([PeerAccounts.PeerAccount("alice", "USD", 9, null), PeerAccounts.PeerAccount("bob", "USD", 9, null), PeerAccounts.ClearingAccount("USD", 9)]);
            var old = DoubtfulPostFile.OpenFile(journalPath, _log);
            old.TryAppend(await Pair(ledger, 7, Fate.Posted));
            old.TryAppend(await Pair(ledger, 3, Fate.Pending));
        }
        var logs = new ListLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        await using (var host = await ConnectorHost.CreateAsync(settings, factory))
        {
            await host.StartAsync(CancellationToken.None);
            Assert.Equal(2, await host.DoubtfulReplay.WaitAsync(TimeSpan.FromSeconds(20)));
            Assert.Equal(((Int128)0, (Int128)0), ((await host.Accounting.Ledger.LookupAccountAsync(Alice))!.PostedBalance, (await host.Accounting.Ledger.LookupAccountAsync(Bob))!.PostedBalance));
        }
        Assert.False(File.Exists(journalPath));
        Assert.True(File.Exists(journalPath + ".imported"));
        Assert.Single(logs.Logger.Lines, l => l.Text.Contains("imported into the sqlite ledger", StringComparison.Ordinal) && l.Text.Contains("2 open doubtful posts", StringComparison.Ordinal));
        Assert.Equal((0L, 0L), OpenRows(settings.Ledger.Path));

        // A second start finds nothing to import or replay.
        await using (var host = await ConnectorHost.CreateAsync(settings, factory))
        {
            await host.StartAsync(CancellationToken.None);
            Assert.Equal(0, await host.DoubtfulReplay.WaitAsync(TimeSpan.FromSeconds(20)));
        }
        Assert.Single(logs.Logger.Lines, l => l.Text.Contains("imported into the sqlite ledger", StringComparison.Ordinal));
    }

    /// <summary>(rows, open rows) of the doubtful_posts table in the SQLite ledger file.</summary>
    private static (long Rows, long Open) OpenRows(string ledgerPath)
    {
        using var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={ledgerPath};Pooling=False");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT count(*), count(*) FILTER (WHERE resolved_at IS NULL) FROM doubtful_posts";
        using var r = cmd.ExecuteReader();
        r.Read();
        return (r.GetInt64(0), r.GetInt64(1));
    }
}

internal sealed class ListLoggerProvider : ILoggerProvider
{
    public ListLogger Logger { get; } = new();

    public ILogger CreateLogger(string categoryName) => Logger;

    public void Dispose()
    {
    }
}

/// <summary>Keeps formatted log lines so tests can assert warnings and errors.</summary>
internal sealed class ListLogger : ILogger
{
    private readonly List<(LogLevel Level, string Text)> _lines = [];

    public IReadOnlyList<(LogLevel Level, string Text)> Lines
    {
        get { lock (_lines) return [.. _lines]; }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_lines) _lines.Add((logLevel, formatter(state, exception)));
    }
}
