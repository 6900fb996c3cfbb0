using System.CommandLine;
using M2M.Core.Ledger;
using M2M.Ledger.Sqlite;
using M2M.Server.Accounting;
using M2M.Server.Configuration;
using M2M.Server.Data;

namespace M2M.Cli;

/// <summary>`ledger verify` and `ledger balances`: read the configured ledger (safe while the connector runs).</summary>
internal static class LedgerCommand
{
    public static Command Create()
    {
        var config = CommonOptions.Config();
        var grace = new Option<int>("--orphan-grace-seconds")
        {
            Description = "A pending transfer still open this long after its timeout is an orphan",
            DefaultValueFactory = _ => 1,
        };
        var verify = new Command("verify", "Check the ledger's invariants; exit 0 when consistent, 1 on any violation, 2 when it cannot be read.") { config, grace };
        verify.SetAction((parse, ct) => VerifyAsync(parse.GetValue(config), TimeSpan.FromSeconds(parse.GetValue(grace))));
        var balances = new Command("balances", "List every account's balance.") { config };
        balances.SetAction((parse, ct) => BalancesAsync(parse.GetValue(config)));
        return new Command("ledger", "Ledger tools.") { verify, balances, ImportCommand() };
    }

    private static Command ImportCommand()
    {
        var config = CommonOptions.Config();
        var file = new Argument<string>("FILE") { Description = "1.x balances export: JSON (format m2m-balances/1) or CSV (peer_id,asset,scale,balance)" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Check the file and print the transfers; write nothing" };
        var import = new Command("import", "Import 1.x balances from an exported balances file (idempotent; the connector must be stopped).") { file, config, dryRun };
        import.SetAction((parse, ct) => ImportAsync(parse.GetValue(config), parse.GetValue(file)!, parse.GetValue(dryRun)));
        return import;
    }

    private static async Task<int> ImportAsync(string? configPath, string file, bool dryRun)
    {
        if (BackupCommand.LoadSettings(configPath) is not { } settings) return 1;
        try
        {
            var rows = LedgerImport.Parse(Path.GetFullPath(file));
            if (dryRun)
            {
                foreach (var r in rows)
                    Console.WriteLine($"dry run: {r.PeerId} {r.Asset}/{r.Scale} balance {r.Balance}: transfer {LedgerImport.TransferFor(r).Id:x32}");
                Console.WriteLine($"dry run: {rows.Count} balances checked, nothing written");
                return 0;
            }
            await using var ledger = await ConnectorLedger.OpenConfiguredAsync(settings.Ledger, TimeProvider.System, connectTimeoutSeconds: ConnectorLedger.OneShotConnectTimeoutSeconds);
            var (imported, existing) = await WorkProgressView.RunAsync((work, line) => LedgerImport.ApplyAsync(ledger, settings, rows, line, default, work));
            Console.WriteLine($"ledger import: {rows.Count} balances, {imported} imported, {existing} already present");
            return 0;
        }
        catch (BackupException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (LedgerUnavailableException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }

    private static async Task<int> VerifyAsync(string? configPath, TimeSpan grace)
    {
        return await WithLedgerAsync(configPath, async (accounts, journal) =>
        {
            var report = await LedgerVerifier.VerifyAsync(accounts, journal, DateTimeOffset.UtcNow, grace);
            foreach (var v in report.Violations) Console.WriteLine($"VIOLATION: {v}");
            Console.WriteLine($"ledger verify: {report.Accounts} accounts, {report.Transfers} transfers, {report.OpenPending} open pending, {report.Violations.Count} violations: {(report.IsConsistent ? "consistent" : "INCONSISTENT")}");
            return report.IsConsistent ? 0 : 1;
        });
    }

    private static async Task<int> BalancesAsync(string? configPath)
    {
        return await WithLedgerAsync(configPath, (accounts, _) =>
        {
            Console.WriteLine($"{"account",-40} {"balance",22} {"debits pending",16} {"credits pending",16} {"limit",12}");
            foreach (var a in accounts)
            {
                string limit = a.Flags.HasFlag(AccountFlags.DebitsMustNotExceedCredits) ? a.DebitLimit.ToString() : "-";
                Console.WriteLine($"{a.Name,-40} {a.PostedBalance,22} {a.DebitsPending,16} {a.CreditsPending,16} {limit,12}");
            }
            return Task.FromResult(0);
        });
    }

    /// <summary>Opens a consistent read-only view of the configured ledger and runs <paramref name="use"/> on it.</summary>
    private static async Task<int> WithLedgerAsync(string? configPath, Func<IReadOnlyList<Account>, IAsyncEnumerable<(Transfer, PendingState?)>, Task<int>> use)
    {
        var loader = ConfigLoader.FromProcess();
        ConnectorSettings settings;
        try
        {
            settings = loader.Load(loader.ResolvePath(configPath));
        }
        catch (ConfigException e)
        {
            CommonOptions.ReportConfigErrors(e);
            return 2;
        }
        try
        {
            if (settings.Ledger.Backend == LedgerBackend.Sqlite)
            {
                await using var snapshot = SqliteSnapshot.Open(settings.Ledger.Path);
                return await use(snapshot.Accounts(), snapshot.Journal());
            }
            await using var ledger = await ConnectorLedger.OpenConfiguredAsync(settings.Ledger, TimeProvider.System, connectTimeoutSeconds: ConnectorLedger.OneShotConnectTimeoutSeconds);
            return await use(await ledger.ListAccountsAsync(), ledger.ReadJournalAsync());
        }
        catch (LedgerUnavailableException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }
}
