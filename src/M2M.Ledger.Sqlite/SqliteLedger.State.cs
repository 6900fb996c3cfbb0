using M2M.Core.Ledger;
using Microsoft.Data.Sqlite;
using static M2M.Ledger.Sqlite.SqliteSchema;

namespace M2M.Ledger.Sqlite;

/// <summary>
/// The authoritative in-memory state (everything here is guarded by <see cref="_gate"/>) and the
/// view the engine applies calls to.
/// Idempotency without a lookup per new id: every transfer applied since open is remembered in
/// <see cref="_recent"/> until it is committed and pushed out by newer ones. An id issued by this
/// process (<see cref="PeerAccounts.NewTransferId()"/>: its prefix and a counter) whose counter is
/// at or above <see cref="_ownIdCutoff"/> was never seen before open and never evicted, so when it
/// is not in memory it does not exist: no SQL. Any other id not in memory (a client's own id, an
/// id from an earlier process, or one evicted) is looked up in the file — everything evicted is
/// committed, so the file has it.
/// </summary>
public sealed partial class SqliteLedger : ILedgerStateView
{
    /// <summary>
    /// Recent transfers kept in memory (~2 s at 2,000 packets/s, ~4 MiB): a retry of an older id is
    /// looked up in the file. 65,536 cost ~40 MiB more RSS in compare.sh for no gain.
    /// </summary>
    internal const int DefaultMaxRecentIds = 16_384;

    private readonly object _gate = new();
    private readonly int _maxRecent;
    private readonly Dictionary<UInt128, Account> _accounts = [];
    private readonly Dictionary<UInt128, Transfer> _openPending = [];
    private readonly Dictionary<UInt128, Recent> _recent = [];
    private readonly Queue<(UInt128 Id, long Seq)> _recentOrder = new();
    private readonly StoredTransferLookup _lookup;
    private readonly LedgerWorkspace _workspace = new();
    private ulong _ownIdCutoff;

    /// <summary>Ids looked up in the file because memory could not answer (for tests and the benchmark).</summary>
    internal long StoredLookups { get; private set; }

    /// <summary>A transfer applied since open, with the state of a pending one; <c>Seq</c>: the call that last changed it.</summary>
    private sealed class Recent(Transfer transfer, PendingState? state, long seq)
    {
        public Transfer Transfer { get; } = transfer;
        public PendingState? State { get; set; } = state;
        public long Seq { get; set; } = seq;
    }

    Account? ILedgerStateView.GetAccount(UInt128 id) => _accounts.GetValueOrDefault(id);

    Transfer? ILedgerStateView.GetTransfer(UInt128 id)
    {
        if (_openPending.TryGetValue(id, out var t)) return t;
        if (_recent.TryGetValue(id, out var r)) return r.Transfer;
        return IsProvablyNew(id) ? null : Stored(id).Transfer;
    }

    PendingState? ILedgerStateView.GetPendingState(UInt128 id)
    {
        if (_openPending.ContainsKey(id)) return PendingState.Open;
        if (_recent.TryGetValue(id, out var r)) return r.State;
        return IsProvablyNew(id) ? null : Stored(id).State;
    }

    private bool IsProvablyNew(UInt128 id) => PeerAccounts.IsOwnTransferId(id, out ulong counter) && counter >= _ownIdCutoff;

    private (Transfer? Transfer, PendingState? State) Stored(UInt128 id)
    {
        StoredLookups++;
        return _lookup.Find(id);
    }

    /// <summary>Applies an engine result to memory and to the writer's next batch; returns false when it changed nothing.</summary>
    private bool Record(LedgerChangeSet changes, bool roundTrip = false)
    {
        if (changes.IsEmpty && changes.Accounts.Count == 0 && !roundTrip) return false;
        long seq = ++_appliedSeq;
        var batch = _next;
        foreach (var (id, a) in changes.Accounts)
        {
            _accounts[id] = a;
            batch.Accounts[id] = a;
        }
        foreach (var t in changes.Transfers)
        {
            PendingState? state = changes.PendingStates.TryGetValue(t.Id, out var s) ? s : null;
            if (state == PendingState.Open) _openPending[t.Id] = t;
            Remember(t.Id, new Recent(t, state, seq));
            batch.Transfers.Add(t);
            batch.Inserted.Add(t.Id);
        }
        foreach (var (id, state) in changes.PendingStates)
        {
            batch.States[id] = state;
            if (state == PendingState.Open) continue;
            if (_openPending.Remove(id, out var p) && !_recent.ContainsKey(id)) Remember(id, new Recent(p, state, seq));
            else if (_recent.TryGetValue(id, out var r))
            {
                r.State = state;
                r.Seq = seq;
                _recentOrder.Enqueue((id, seq)); // its earlier place in the queue no longer evicts it
            }
        }
        batch.Calls++;
        batch.Seq = seq;
        EvictCommitted();
        WakeWriter();
        return true;
    }

    private void Remember(UInt128 id, Recent r)
    {
        _recent[id] = r;
        _recentOrder.Enqueue((id, r.Seq));
    }

    /// <summary>Forgets the oldest projected transfers beyond the bound (the tables have them); own ids forgotten raise the cutoff past them.</summary>
    private void EvictCommitted()
    {
        if (_recent.Count <= _maxRecent) return;
        int target = _maxRecent - _maxRecent / 4;
        while (_recent.Count > target && _recentOrder.TryPeek(out var head) && head.Seq <= _projectedSeq)
        {
            _recentOrder.Dequeue();
            if (!_recent.TryGetValue(head.Id, out var r) || r.Seq != head.Seq) continue; // changed later: a newer entry follows
            _recent.Remove(head.Id);
            if (PeerAccounts.IsOwnTransferId(head.Id, out ulong counter) && counter >= _ownIdCutoff) _ownIdCutoff = counter + 1;
        }
    }

    /// <summary>The file's copy of one transfer, on a read-only connection of its own (WAL: it sees every commit).</summary>
    private sealed class StoredTransferLookup : IDisposable
    {
        private readonly SqliteCommand _select;
        private readonly SqliteParameter _id;

        public StoredTransferLookup(SqliteConnection reader)
        {
            _select = reader.CreateCommand();
            _select.CommandText = $"SELECT {TransferColumns} FROM transfers WHERE id = $id";
            _id = _select.Parameters.Add("$id", SqliteType.Text);
            _select.Prepare();
        }

        public (Transfer? Transfer, PendingState? State) Find(UInt128 id)
        {
            _id.Value = Id(id);
            using var r = _select.ExecuteReader();
            return r.Read() ? ReadTransfer(r) : (null, null);
        }

        public void Dispose() => _select.Dispose();
    }
}
