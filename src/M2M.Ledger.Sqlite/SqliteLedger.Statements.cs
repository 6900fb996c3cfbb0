using System.Globalization;
using M2M.Core.Ledger;
using Microsoft.Data.Sqlite;
using SQLitePCL;
using static M2M.Ledger.Sqlite.SqliteSchema;

namespace M2M.Ledger.Sqlite;

public sealed partial class SqliteLedger
{
    /// <summary>
    /// <see cref="SqliteSchema.Id"/> as UTF-8 into 32 bytes, without UInt128's general formatter
    /// (its "x32" path was a top symbol of the writer thread).
    /// </summary>
    internal static void FormatId(UInt128 value, Span<byte> text)
    {
        ReadOnlySpan<byte> hex = "0123456789abcdef"u8;
        ulong hi = (ulong)(value >> 64), lo = (ulong)value;
        for (int i = 15; i >= 0; i--, hi >>= 4) text[i] = hex[(int)(hi & 0xF)];
        for (int i = 31; i >= 16; i--, lo >>= 4) text[i] = hex[(int)(lo & 0xF)];
    }

    /// <summary><see cref="SqliteSchema.Amount"/> as UTF-8; returns its length (amounts that fit 64 bits take ulong's faster path).</summary>
    internal static int FormatAmount(UInt128 value, Span<byte> text)
    {
        bool ok = value <= ulong.MaxValue
            ? ((ulong)value).TryFormat(text, out int n, default, CultureInfo.InvariantCulture)
            : value.TryFormat(text, out n, default, CultureInfo.InvariantCulture);
        Invariant.Check(ok, "amount formatting");
        return n;
    }

    /// <summary>
    /// The writer's statements, prepared once for the writer connection and reused by every batch
    /// (a batch at low load holds 1–2 calls, so per-batch prepare was most of its CPU). The three
    /// writes go through SQLitePCL directly: ids and amounts are formatted straight into UTF-8 on
    /// the stack, so a row costs no allocation (Microsoft.Data.Sqlite allocates a binder per
    /// parameter per execution). The text written is exactly SqliteSchema.Id / Amount.
    /// Used only by the writer loop; disposed after it ends, before the connection.
    /// </summary>
    private sealed class WriterStatements : IDisposable
    {
        private readonly sqlite3 _db;
        private readonly sqlite3_stmt _insertTransfer;
        /// <summary>The same insert for <see cref="_rowsPerInsert"/> rows at once (one statement step per chunk of a projection).</summary>
        private readonly sqlite3_stmt? _insertTransfers;
        private readonly int _rowsPerInsert;
        private readonly sqlite3_stmt _upsertAccount;
        private readonly sqlite3_stmt _updateState;
        private readonly sqlite3_stmt? _appendLog;
        private readonly sqlite3_stmt? _deleteLog;
        private readonly sqlite3_stmt _begin;
        private readonly sqlite3_stmt _commit;
        private readonly sqlite3_stmt _rollback;

        public WriterStatements(SqliteConnection writer, bool log, int rowsPerInsert)
        {
            _db = writer.Handle!;
            _insertTransfer = Prepare($"INSERT INTO transfers ({TransferColumns}) VALUES {TransferValues(1)}");
            _rowsPerInsert = rowsPerInsert;
            if (rowsPerInsert > 1) _insertTransfers = Prepare($"INSERT INTO transfers ({TransferColumns}) VALUES {TransferValues(rowsPerInsert)}");
            _upsertAccount = Prepare($"""
                INSERT INTO accounts ({AccountColumns}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                ON CONFLICT (id) DO UPDATE SET flags = excluded.flags, debit_limit = excluded.debit_limit, debits_pending = excluded.debits_pending,
                  debits_posted = excluded.debits_posted, credits_pending = excluded.credits_pending, credits_posted = excluded.credits_posted
                """);
            _updateState = Prepare("UPDATE transfers SET pending_state = ?1 WHERE id = ?2");
            _begin = Prepare("BEGIN IMMEDIATE");
            _commit = Prepare("COMMIT");
            _rollback = Prepare("ROLLBACK");
            if (log)
            {
                _appendLog = Prepare("INSERT INTO ledger_log (records) VALUES (?1)");
                _deleteLog = Prepare("DELETE FROM ledger_log WHERE seq <= ?1");
            }
        }

        /// <summary>BEGIN IMMEDIATE (the write lock now, waiting up to the connection's busy_timeout).</summary>
        public void Begin() => Step(_begin);

        public void Commit() => Step(_commit);

        /// <summary>After a failure inside <see cref="Begin"/>/<see cref="Commit"/>: rolls back what is still open (a failed COMMIT may have ended it).</summary>
        public void RollbackIfOpen()
        {
            if (raw.sqlite3_get_autocommit(_db) != 0) return;
            raw.sqlite3_step(_rollback);
            raw.sqlite3_reset(_rollback);
        }

        /// <summary>Appends one log row; returns its key.</summary>
        public long AppendLog(ReadOnlySpan<byte> records)
        {
            Check(raw.sqlite3_bind_blob(_appendLog!, 1, records));
            Step(_appendLog!);
            return raw.sqlite3_last_insert_rowid(_db);
        }

        public void DeleteLog(long upTo)
        {
            BindLong(_deleteLog!, 1, upTo);
            Step(_deleteLog!);
        }

        /// <summary>Inserts the transfers in order (rowid order = insert order, as one row per statement gave), each with its state from <paramref name="states"/>.</summary>
        public void InsertTransfers(List<Transfer> transfers, Dictionary<UInt128, PendingState> states)
        {
            int i = 0;
            if (_insertTransfers is { } chunk)
            {
                for (; i + _rowsPerInsert <= transfers.Count; i += _rowsPerInsert)
                {
                    for (int j = 0; j < _rowsPerInsert; j++) BindTransfer(chunk, j * TransferColumnCount, transfers[i + j], states);
                    Step(chunk);
                }
            }
            for (; i < transfers.Count; i++)
            {
                BindTransfer(_insertTransfer, 0, transfers[i], states);
                Step(_insertTransfer);
            }
        }

        private void BindTransfer(sqlite3_stmt stmt, int offset, Transfer t, Dictionary<UInt128, PendingState> states)
        {
            BindId(stmt, offset + 1, t.Id);
            BindId(stmt, offset + 2, t.DebitAccountId);
            BindId(stmt, offset + 3, t.CreditAccountId);
            BindAmount(stmt, offset + 4, t.Amount);
            if (t.PendingId == UInt128.Zero) BindNull(stmt, offset + 5);
            else BindId(stmt, offset + 5, t.PendingId);
            BindLong(stmt, offset + 6, t.Ledger);
            BindLong(stmt, offset + 7, t.Code);
            BindLong(stmt, offset + 8, (long)t.Flags);
            if (t.TimeoutAt is { } at) BindLong(stmt, offset + 9, Millis(at));
            else BindNull(stmt, offset + 9);
            if (states.TryGetValue(t.Id, out var s)) BindLong(stmt, offset + 10, (long)s);
            else BindNull(stmt, offset + 10);
            BindLong(stmt, offset + 11, Millis(t.CreatedAt));
        }

        private const int TransferColumnCount = 11;

        /// <summary>"(?1, …, ?11), (?12, …, ?22), …" for <paramref name="rows"/> rows of the transfer columns.</summary>
        private static string TransferValues(int rows) =>
            string.Join(", ", Enumerable.Range(0, rows).Select(r =>
                "(" + string.Join(", ", Enumerable.Range(r * TransferColumnCount + 1, TransferColumnCount).Select(n => "?" + n.ToString(CultureInfo.InvariantCulture))) + ")"));

        public void UpsertAccount(Account a)
        {
            BindId(_upsertAccount, 1, a.Id);
            BindLong(_upsertAccount, 2, a.Ledger);
            BindLong(_upsertAccount, 3, a.Code);
            BindLong(_upsertAccount, 4, (long)a.Flags);
            BindAmount(_upsertAccount, 5, a.DebitLimit);
            Check(raw.sqlite3_bind_text(_upsertAccount, 6, a.Name));
            BindAmount(_upsertAccount, 7, a.DebitsPending);
            BindAmount(_upsertAccount, 8, a.DebitsPosted);
            BindAmount(_upsertAccount, 9, a.CreditsPending);
            BindAmount(_upsertAccount, 10, a.CreditsPosted);
            BindLong(_upsertAccount, 11, Millis(a.CreatedAt));
            Step(_upsertAccount);
        }

        /// <summary>Returns the number of rows changed (1, or 0 when the id is missing).</summary>
        public int UpdatePendingState(UInt128 id, PendingState state)
        {
            BindLong(_updateState, 1, (long)state);
            BindId(_updateState, 2, id);
            Step(_updateState);
            return raw.sqlite3_changes(_db);
        }

        public void Dispose()
        {
            _insertTransfer.Dispose();
            _insertTransfers?.Dispose();
            _upsertAccount.Dispose();
            _updateState.Dispose();
            _appendLog?.Dispose();
            _deleteLog?.Dispose();
            _begin.Dispose();
            _commit.Dispose();
            _rollback.Dispose();
        }

        private sqlite3_stmt Prepare(string sql)
        {
            Check(raw.sqlite3_prepare_v2(_db, sql, out var stmt));
            return stmt;
        }

        private void BindId(sqlite3_stmt s, int index, UInt128 value)
        {
            Span<byte> text = stackalloc byte[32];
            FormatId(value, text);
            Check(raw.sqlite3_bind_text(s, index, text));
        }

        private void BindAmount(sqlite3_stmt s, int index, UInt128 value)
        {
            Span<byte> text = stackalloc byte[40]; // UInt128.MaxValue has 39 digits
            Check(raw.sqlite3_bind_text(s, index, text[..FormatAmount(value, text)]));
        }

        private void BindLong(sqlite3_stmt s, int index, long value) => Check(raw.sqlite3_bind_int64(s, index, value));

        private void BindNull(sqlite3_stmt s, int index) => Check(raw.sqlite3_bind_null(s, index));

        private void Step(sqlite3_stmt s)
        {
            int rc = raw.sqlite3_step(s);
            try
            {
                if (rc != raw.SQLITE_DONE) SqliteException.ThrowExceptionForRC(rc, _db);
            }
            finally
            {
                raw.sqlite3_reset(s);
            }
        }

        private void Check(int rc)
        {
            if (rc != raw.SQLITE_OK) SqliteException.ThrowExceptionForRC(rc, _db);
        }
    }
}
