using M2M.Core.Ledger;
using Microsoft.Data.Sqlite;

namespace M2M.Migrations;

/// <summary>
/// The SQLite ledger's file as the home of other tables (settlement records and channel state, issue 15):
/// rows written in the ledger writer's own commit, together with ledger transfers, so a settlement intent and
/// the reservation of its amount are one atomic commit (RELIABILITY.md rule 5). A generic hook: the ledger
/// knows nothing about what the rows mean; their tables come with the ledger's migrations.
/// </summary>
public interface ISqliteLedgerFile
{
    /// <summary>The ledger file (full path): other readers and rare single-row writers open their own connection to it.</summary>
    string Path { get; }

    /// <summary>
    /// Applies <paramref name="transfers"/> as <see cref="ILedger.CreateTransfersAsync"/> does; when every one is
    /// applied (Ok or Exists), <paramref name="rows"/> runs on the writer's connection inside the same commit. Returns
    /// after that commit. Should <paramref name="rows"/> throw, the whole commit fails (the ledger reloads from the
    /// file, as after any failed commit) and the caller gets the exception: callers check what could refuse first.
    /// </summary>
    Task<IReadOnlyList<CreateTransferResult>> CreateTransfersWithAsync(IReadOnlyList<Transfer> transfers, Action<SqliteConnection, SqliteTransaction> rows, CancellationToken ct);
}
