using System.Runtime.CompilerServices;
using M2M.Core.Ledger;
using Microsoft.Data.Sqlite;
using static M2M.Ledger.Sqlite.SqliteSchema;

namespace M2M.Ledger.Sqlite;

/// <summary>
/// A read-only, consistent view of a ledger file that another process may be writing (WAL lets
/// a reader hold one snapshot while the writer commits). Used by `ledger verify` and `ledger
/// balances`, which must work while the connector runs.
/// </summary>
public sealed class SqliteSnapshot : IAsyncDisposable
{
    private readonly SqliteConnection _connection;
    private readonly SqliteTransaction _tx;

    private SqliteSnapshot(SqliteConnection connection)
    {
        _connection = connection;
        _tx = connection.BeginTransaction(deferred: true);
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
        while (r.Read()) list.Add(ReadAccount(r));
        return list;
    }

    public async IAsyncEnumerable<(Transfer Transfer, PendingState? State)> Journal([EnumeratorCancellation] CancellationToken ct = default)
    {
        using var cmd = _connection.CreateCommand();
        cmd.Transaction = _tx;
        cmd.CommandText = $"SELECT {TransferColumns} FROM transfers ORDER BY seq";
        using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false)) yield return ReadTransfer(r);
    }

    public async ValueTask DisposeAsync()
    {
        await _tx.DisposeAsync().ConfigureAwait(false);
        await _connection.DisposeAsync().ConfigureAwait(false);
    }
}
