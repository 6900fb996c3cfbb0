using System.Runtime.CompilerServices;
using M2M.Core.Ledger;
using Microsoft.Data.Sqlite;
using static M2M.Ledger.Sqlite.SqliteSchema;

namespace M2M.Ledger.Sqlite;

/// <summary>
/// A read-only, consistent view of a ledger file that another process may be writing (WAL lets
/// a reader hold one snapshot while the writer commits). Used by `ledger verify` and `ledger
/// balances`, which must work while the connector runs. The rows of <c>ledger_log</c> the writer
/// has not yet projected into the tables are read in the same snapshot and applied on top, so
/// the view is the whole committed ledger.
/// </summary>
public sealed class SqliteSnapshot : IAsyncDisposable
{
    private readonly SqliteConnection _connection;
    private readonly SqliteTransaction _tx;
    private readonly LedgerChanges _log = new();

    private SqliteSnapshot(SqliteConnection connection)
    {
        _connection = connection;
        _tx = connection.BeginTransaction(deferred: true);
        if (SqliteLedger.HasLogTable(connection, _tx)) SqliteLedger.ReadLog(connection, _tx, _log);
    }

    public static SqliteSnapshot Open(string path)
    {
        string full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full)) throw new LedgerUnavailableException($"ledger file {full} does not exist");
        return new SqliteSnapshot(SqliteLedger.Connect(full, readOnly: true));
    }

    public IReadOnlyList<Account> Accounts()
    {
        using var cmd = _connection.CreateCommand();
        cmd.Transaction = _tx;
        cmd.CommandText = $"SELECT {AccountColumns} FROM accounts ORDER BY id";
        using var r = cmd.ExecuteReader();
        var list = new List<Account>();
        while (r.Read())
        {
            var a = ReadAccount(r);
            list.Add(_log.Accounts.GetValueOrDefault(a.Id) ?? a);
        }
        if (_log.Accounts.Count == 0) return list;
        var known = list.Select(a => a.Id).ToHashSet();
        list.AddRange(_log.Accounts.Values.Where(a => !known.Contains(a.Id)));
        return [.. list.OrderBy(a => a.Id)];
    }

    public async IAsyncEnumerable<(Transfer Transfer, PendingState? State)> Journal([EnumeratorCancellation] CancellationToken ct = default)
    {
        using var cmd = _connection.CreateCommand();
        cmd.Transaction = _tx;
        cmd.CommandText = $"SELECT {TransferColumns} FROM transfers ORDER BY seq";
        using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            var (t, state) = ReadTransfer(r);
            yield return (t, state is not null && _log.States.TryGetValue(t.Id, out var later) ? later : state);
        }
        foreach (var t in _log.Transfers) yield return (t, _log.States.TryGetValue(t.Id, out var s) ? s : null);
    }

    public async ValueTask DisposeAsync()
    {
        await _tx.DisposeAsync().ConfigureAwait(false);
        await _connection.DisposeAsync().ConfigureAwait(false);
    }
}
