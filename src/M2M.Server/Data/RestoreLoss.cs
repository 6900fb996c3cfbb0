using M2M.Core.Ledger;
using M2M.Ledger.Sqlite;
using M2M.Server.Configuration;

namespace M2M.Server.Data;

/// <summary>
/// What a restore throws away: the ledger transfers the current ledger has and the backup lacks
/// (written after the backup point), and each account whose posted balance differs, with both
/// numbers. Read-only on both files (safe while the connector runs; a dry run then shows the state
/// of that moment). SQLite ledgers only: for PostgreSQL it says that it cannot list the loss.
/// </summary>
public static class RestoreLoss
{
    public static async Task<IReadOnlyList<string>> DescribeAsync(ConnectorSettings settings, string dir, BackupManifest manifest, CancellationToken ct = default)
    {
        if (settings.Ledger.Backend != LedgerBackend.Sqlite)
            return ["loss: not listed for a PostgreSQL ledger: compare `m2m-connector ledger balances` now with the backup's before restoring"];
        var entry = manifest.Files.FirstOrDefault(f => f.Store == DataStores.Ledger);
        string current = Path.GetFullPath(settings.Ledger.Path);
        if (entry is null || !File.Exists(current)) return ["loss: nothing: there is no current ledger file to replace"];

        var (nowAccounts, nowIds) = await ReadAsync(current, ct).ConfigureAwait(false);
        var (oldAccounts, oldIds) = await ReadAsync(Path.Combine(dir, entry.File), ct).ConfigureAwait(false);
        int after = nowIds.Count(id => !oldIds.Contains(id));
        var old = oldAccounts.ToDictionary(a => a.Id);
        var lines = new List<string>
        {
            after == 0
                ? $"loss: no ledger transfer was written after the backup of {manifest.CreatedAt:u}"
                : $"loss: {after} ledger transfers written after the backup of {manifest.CreatedAt:u} are discarded",
        };
        foreach (var a in nowAccounts)
        {
            Int128 before = old.TryGetValue(a.Id, out var o) ? o.PostedBalance : 0;
            if (before == a.PostedBalance) continue;
            lines.Add($"loss: account {a.Name}: posted balance {a.PostedBalance} now, {before} in the backup ({Int128.Abs(a.PostedBalance - before)} units)");
        }
        return lines;
    }

    private static async Task<(IReadOnlyList<Account> Accounts, HashSet<UInt128> TransferIds)> ReadAsync(string path, CancellationToken ct)
    {
        await using var snapshot = SqliteSnapshot.Open(path);
        var ids = new HashSet<UInt128>();
        await foreach (var (t, _) in snapshot.Journal(ct).ConfigureAwait(false)) ids.Add(t.Id);
        return (snapshot.Accounts(), ids);
    }
}
