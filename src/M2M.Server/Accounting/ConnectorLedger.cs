using M2M.Core.Ledger;
using M2M.Ledger.Postgres;
using M2M.Ledger.Sqlite;
using M2M.Server.Configuration;
using Microsoft.Extensions.Logging;

namespace M2M.Server.Accounting;

/// <summary>
/// The connector's use of its ledger: opens the configured backend, makes sure every peer has
/// its account (and the configured credit limit), voids pending transfers left behind by a
/// crash before traffic is accepted, then sweeps expired ones every second.
/// </summary>
public sealed partial class ConnectorLedger : IAsyncDisposable
{
    /// <summary>How often expired pending transfers are voided.</summary>
    public static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(1);

    private readonly ConnectorSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private Task? _sweeper;

    public ConnectorLedger(ILedger ledger, ConnectorSettings settings, TimeProvider time, ILogger log)
    {
        Ledger = ledger;
        _settings = settings;
        _time = time;
        _log = log;
    }

    public ILedger Ledger { get; }

    /// <summary>
    /// PostgreSQL connect timeout of one-shot commands (ledger verify, balances, import). The connector keeps
    /// its short one (a down database answers T00 fast); a command run once can wait for a new backend on a
    /// loaded machine, where 2 s was too short (the crash harness's `ledger verify` failed with a timeout).
    /// </summary>
    public const int OneShotConnectTimeoutSeconds = 15;

    /// <summary>Opens the backend named in the settings; <paramref name="connectTimeoutSeconds"/> overrides PostgreSQL's connect timeout.</summary>
    public static async Task<ILedger> OpenConfiguredAsync(LedgerSettings settings, TimeProvider time, CancellationToken ct = default, int? connectTimeoutSeconds = null) => settings.Backend switch
    {
        LedgerBackend.Sqlite => SqliteLedger.Open(settings.Path, time),
        LedgerBackend.Postgres => await PostgresLedger.OpenAsync(settings.PostgresUrl!, connectTimeoutSeconds is { } seconds
            ? new PostgresLedgerOptions { Time = time, ConnectTimeoutSeconds = seconds }
            : new PostgresLedgerOptions { Time = time }, ct).ConfigureAwait(false),
        _ => throw new LedgerUnavailableException($"unknown ledger backend '{settings.Backend}'"),
    };

    /// <summary>Creates missing accounts, applies credit limits, voids orphans; then starts the sweeper.</summary>
    public async Task PrepareAsync(CancellationToken ct)
    {
        var accounts = _settings.Peers.Select(p => PeerAccounts.PeerAccount(p.Id, p.AssetCode, p.AssetScale, p.CreditLimit))
            .Concat(_settings.Peers.Select(p => PeerAccounts.ClearingAccount(p.AssetCode, p.AssetScale)).DistinctBy(a => a.Id))
            .Concat(_settings.Peers.Select(p => PeerAccounts.ConnectorLossAccount(p.AssetCode, p.AssetScale)).DistinctBy(a => a.Id))
            .ToList();
        var results = await Ledger.CreateAccountsAsync(accounts, ct).ConfigureAwait(false);
        for (int i = 0; i < accounts.Count; i++)
        {
            if (results[i] == CreateAccountResult.ExistsWithDifferentFields) await ApplyCreditLimitAsync(accounts[i], ct).ConfigureAwait(false);
        }
        int voided = await Ledger.ExpirePendingAsync(_time.GetUtcNow(), ct).ConfigureAwait(false);
        LogReady(Ledger.Backend, accounts.Count, voided);
        _sweeper = Task.Run(() => SweepAsync(_stop.Token), CancellationToken.None);
    }

    /// <summary>
    /// The operator set, changed or removed a peer's creditLimit: the stored limit (flag and amount
    /// together) follows the config exactly, whatever the current balance, with one line old → new.
    /// </summary>
    private async Task ApplyCreditLimitAsync(Account configured, CancellationToken ct)
    {
        var stored = await Ledger.LookupAccountAsync(configured.Id, ct).ConfigureAwait(false);
        UInt128? wanted = LimitOf(configured);
        await Ledger.SetDebitLimitAsync(configured.Id, wanted, ct).ConfigureAwait(false);
        LogLimitChanged(configured.Name, Describe(stored is null ? null : LimitOf(stored)), Describe(wanted), stored?.PostedBalance.ToString() ?? "?");
        if (stored is not null && wanted is { } limit && stored.DebitsPosted + stored.DebitsPending > stored.CreditsPosted + limit)
            LogOverNewLimit(configured.Name);
    }

    private static UInt128? LimitOf(Account a) => a.Flags.HasFlag(AccountFlags.DebitsMustNotExceedCredits) ? a.DebitLimit : null;

    private static string Describe(UInt128? limit) => limit?.ToString() ?? "none";

    private async Task SweepAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(SweepInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                try
                {
                    int n = await Ledger.ExpirePendingAsync(_time.GetUtcNow(), ct).ConfigureAwait(false);
                    if (n > 0) LogExpired(n);
                }
                catch (LedgerUnavailableException e)
                {
                    LogSweepFailed(e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    /// <summary>Round trip to the store, for /health: (up, latency).</summary>
    public async Task<(bool Up, TimeSpan Latency)> ProbeAsync()
    {
        long started = _time.GetTimestamp();
        try
        {
            await Ledger.PingAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            return (true, _time.GetElapsedTime(started));
        }
        catch (Exception e) when (e is LedgerUnavailableException or TimeoutException)
        {
            return (false, _time.GetElapsedTime(started));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_sweeper is not null) await _sweeper.ConfigureAwait(false);
        await Ledger.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Ledger ready: backend {Backend}, {Accounts} accounts, {Voided} expired pending transfers voided at start")]
    private partial void LogReady(string backend, int accounts, int voided);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "Credit limit of {Account} changed from {OldLimit} to {NewLimit} by the config (posted balance {Balance})")]
    private partial void LogLimitChanged(string account, string oldLimit, string newLimit, string balance);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Warning, Message = "{Account} owes more than its new credit limit: its packets get T04 until it is back within, and ledger verify lists it until then")]
    private partial void LogOverNewLimit(string account);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Information, Message = "Voided {Count} expired pending transfers")]
    private partial void LogExpired(int count);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "Sweeping expired pending transfers failed: {Reason}")]
    private partial void LogSweepFailed(string reason);
}
