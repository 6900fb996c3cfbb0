using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using M2M.Core.Ledger;
using Npgsql;
using static M2M.Ledger.Postgres.PgCodec;

namespace M2M.Ledger.Postgres;

public sealed record PostgresLedgerOptions
{
    /// <summary>Most caller batches applied in one database transaction (group commit).</summary>
    public int MaxBatchesPerCommit { get; init; } = 512;
    /// <summary>Soft cap on transfers per transaction (the first batch is always taken).</summary>
    public int MaxTransfersPerCommit { get; init; } = 8192;
    /// <summary>Transparent retries of serialization failures, deadlocks and id races.</summary>
    public int MaxConflictRetries { get; init; } = 10;
    /// <summary>TCP connect timeout; a down database fails callers after about this long.</summary>
    public int ConnectTimeoutSeconds { get; init; } = 2;
    public int CommandTimeoutSeconds { get; init; } = 10;
    /// <summary>Pending transfers voided per sweep transaction.</summary>
    public int ExpireBatchSize { get; init; } = 1000;
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>
/// The PostgreSQL ledger. Several connector processes may share one database: correctness comes
/// from row locks, not from process memory. A write transaction locks the transfer rows it names
/// (its ids and pending ids) and then the accounts it touches, both with SELECT … FOR UPDATE in
/// ascending id order (one global lock order: transfer rows, then accounts, so writers never
/// deadlock each other), runs <see cref="LedgerEngine"/> over a view of the locked rows, writes
/// the change set and commits with synchronous_commit=on. Concurrent callers are group-committed:
/// a single writer loop takes up to <see cref="PostgresLedgerOptions.MaxBatchesPerCommit"/>
/// queued batches and applies them, one engine pass per batch over the evolving state, in one
/// transaction; each caller completes only after COMMIT.
/// </summary>
public sealed class PostgresLedger : ILedger
{
    private readonly NpgsqlDataSource _db;
    private readonly PostgresLedgerOptions _options;
    private readonly Channel<WriteRequest> _queue = Channel.CreateUnbounded<WriteRequest>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;
    private long _commits, _committedBatches;
    private int _lastCommitBatches, _disposed;

    private PostgresLedger(NpgsqlDataSource db, PostgresLedgerOptions options)
    {
        _db = db;
        _options = options;
        _writer = Task.Run(WriterLoopAsync);
    }

    public string Backend => "postgres";

    /// <summary>Raised after each group COMMIT with the number of caller batches it held.</summary>
    public event Action<int>? BatchCommitted;

    /// <summary>Caller batches in the last group commit.</summary>
    public int LastCommitBatches => Volatile.Read(ref _lastCommitBatches);

    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>Average caller batches per group commit since open.</summary>
    public double AverageBatchesPerCommit => Commits == 0 ? 0 : (double)Interlocked.Read(ref _committedBatches) / Commits;

    /// <summary>This release's ledger migrations (for backups and the start-up gate).</summary>
    public static M2M.Core.Migrations.MigrationSet Migrations => PostgresSchema.Migrations;

    /// <summary>The database's recorded schema state, read without writing (URL or connection string, as <see cref="OpenAsync"/>).</summary>
    public static async Task<M2M.Core.Migrations.SchemaState> ReadSchemaStateAsync(string connectionString, CancellationToken ct = default, int? connectTimeoutSeconds = null)
    {
        var builder = PostgresConnectionString.Parse(connectionString);
        if (connectTimeoutSeconds is { } timeout) builder.Timeout = timeout;
        await using var conn = new NpgsqlConnection(builder.ConnectionString);
        await conn.OpenAsync(ct).ConfigureAwait(false);
        return await PostgresSchema.ReadStateAsync(conn, null, ct).ConfigureAwait(false);
    }

    /// <summary>Opens the ledger and applies the embedded migrations (Migrations/*.sql).</summary>
    public static async Task<PostgresLedger> OpenAsync(string connectionString, PostgresLedgerOptions? options = null, CancellationToken ct = default)
    {
        options ??= new PostgresLedgerOptions();
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = PostgresConnectionString.Parse(connectionString);
        }
        catch (ArgumentException e)
        {
            throw new LedgerUnavailableException($"invalid PostgreSQL URL or connection string: {PostgresConnectionString.Problem(connectionString)}", e);
        }
        // Durability is the database's job: a server default of synchronous_commit=off never applies.
        var db = PostgresConnectionString.CreateDataSource(builder, options.ConnectTimeoutSeconds, options.CommandTimeoutSeconds, "m2m-ledger");
        try
        {
            await using var conn = await db.OpenConnectionAsync(ct).ConfigureAwait(false);
            await PostgresSchema.MigrateAsync(conn, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            await db.DisposeAsync().ConfigureAwait(false);
            throw new LedgerUnavailableException($"PostgreSQL ledger unavailable: {e.Message}", e);
        }
        catch
        {
            await db.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return new PostgresLedger(db, options);
    }

    // ---------------------------------------------------------------- accounts

    public ValueTask<IReadOnlyList<CreateAccountResult>> CreateAccountsAsync(IReadOnlyList<Account> accounts, CancellationToken ct = default) =>
        new(RunAsync<IReadOnlyList<CreateAccountResult>>(async (conn, attempt, token) =>
        {
            var results = new CreateAccountResult[accounts.Count];
            var now = _options.Time.GetUtcNow();
            await using var tx = await conn.BeginTransactionAsync(token).ConfigureAwait(false);
            for (int i = 0; i < accounts.Count; i++)
            {
                var a = accounts[i];
                var valid = AccountRules.Validate(a);
                if (valid != CreateAccountResult.Ok)
                {
                    results[i] = valid;
                    continue;
                }
                await using (var insert = new NpgsqlCommand(
                    "INSERT INTO accounts (id, ledger, code, flags, debit_limit, name, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING", conn, tx))
                {
                    insert.Parameters.Add(P(ToUuid(a.Id)));
                    insert.Parameters.Add(P((long)a.Ledger));
                    insert.Parameters.Add(P((int)a.Code));
                    insert.Parameters.Add(P((int)a.Flags));
                    insert.Parameters.Add(Numeric(a.DebitLimit));
                    insert.Parameters.Add(P(a.Name ?? ""));
                    insert.Parameters.Add(P(now.UtcDateTime));
                    if (await insert.ExecuteNonQueryAsync(token).ConfigureAwait(false) == 1)
                    {
                        results[i] = CreateAccountResult.Ok;
                        continue;
                    }
                }
                var existing = await LoadAccountsAsync(conn, tx, [a.Id], forUpdate: false, token).ConfigureAwait(false);
                results[i] = existing.TryGetValue(a.Id, out var e) && AccountRules.SameDefinition(e, a) ? CreateAccountResult.Exists : CreateAccountResult.ExistsWithDifferentFields;
            }
            attempt.CommitStarted = true;
            await tx.CommitAsync(token).ConfigureAwait(false);
            return results;
        }, ct));

    public ValueTask<bool> SetDebitLimitAsync(UInt128 id, UInt128? debitLimit, CancellationToken ct = default) =>
        new(RunAsync(async (conn, attempt, token) =>
        {
            // The flag and the limit change together (AccountRules.WithDebitLimit): $3 sets or clears the flag bit.
            await using var cmd = new NpgsqlCommand("UPDATE accounts SET debit_limit = $2, flags = CASE WHEN $3 THEN flags | $4 ELSE flags & ~$4 END WHERE id = $1", conn);
            cmd.Parameters.Add(P(ToUuid(id)));
            cmd.Parameters.Add(Numeric(debitLimit ?? UInt128.Zero));
            cmd.Parameters.Add(P(debitLimit is not null));
            cmd.Parameters.Add(P((int)AccountFlags.DebitsMustNotExceedCredits));
            attempt.CommitStarted = true; // autocommit: the statement is its own commit
            return await cmd.ExecuteNonQueryAsync(token).ConfigureAwait(false) == 1;
        }, ct));

    public ValueTask<Account?> LookupAccountAsync(UInt128 id, CancellationToken ct = default) =>
        new(RunAsync(async (conn, _, token) =>
        {
            var found = await LoadAccountsAsync(conn, null, [id], forUpdate: false, token).ConfigureAwait(false);
            return found.GetValueOrDefault(id);
        }, ct));

    public ValueTask<IReadOnlyList<Account>> ListAccountsAsync(CancellationToken ct = default) =>
        new(RunAsync<IReadOnlyList<Account>>(async (conn, _, token) =>
        {
            var list = new List<Account>();
            await using var cmd = new NpgsqlCommand($"SELECT {AccountColumns} FROM accounts ORDER BY id", conn);
            await using var r = await cmd.ExecuteReaderAsync(token).ConfigureAwait(false);
            while (await r.ReadAsync(token).ConfigureAwait(false)) list.Add(ReadAccount(r));
            return list;
        }, ct));

    // ---------------------------------------------------------------- journal, sweeper, ping

    public async IAsyncEnumerable<(Transfer Transfer, PendingState? State)> ReadJournalAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        const int page = 4096;
        long after = 0;
        while (true)
        {
            var rows = await RunAsync(async (conn, _, token) =>
            {
                var list = new List<(long Seq, Transfer T, PendingState? S)>(page);
                await using var cmd = new NpgsqlCommand($"SELECT {TransferColumns}, seq FROM transfers WHERE seq > $1 ORDER BY seq LIMIT {page}", conn);
                cmd.Parameters.Add(P(after));
                await using var r = await cmd.ExecuteReaderAsync(token).ConfigureAwait(false);
                while (await r.ReadAsync(token).ConfigureAwait(false))
                {
                    var t = ReadTransfer(r, out var state);
                    list.Add((r.GetInt64(11), t, state));
                }
                return list;
            }, ct).ConfigureAwait(false);
            foreach (var (seq, t, s) in rows)
            {
                ct.ThrowIfCancellationRequested();
                after = seq;
                yield return (t, s);
            }
            if (rows.Count < page) yield break;
        }
    }

    public async ValueTask<int> ExpirePendingAsync(DateTimeOffset now, CancellationToken ct = default)
    {
        int total = 0;
        while (true)
        {
            var (claimed, expired) = await RunAsync((conn, attempt, token) => ExpireOnceAsync(conn, attempt, now, token), ct).ConfigureAwait(false);
            total += expired;
            if (claimed < _options.ExpireBatchSize) return total;
        }
    }

    private async Task<(int Claimed, int Expired)> ExpireOnceAsync(NpgsqlConnection conn, Attempt attempt, DateTimeOffset now, CancellationToken ct)
    {
        await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
        // SKIP LOCKED: nodes sweeping together claim disjoint sets and never wait on each other's rows.
        var claimed = new List<Transfer>();
        await using (var cmd = new NpgsqlCommand(
            $"SELECT {TransferColumns} FROM transfers WHERE state = 0 AND timeout_at <= $1 ORDER BY timeout_at LIMIT $2 FOR UPDATE SKIP LOCKED", conn, tx))
        {
            cmd.Parameters.Add(P(now.UtcTicks));
            cmd.Parameters.Add(P(_options.ExpireBatchSize));
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false)) claimed.Add(ReadTransfer(r, out _));
        }
        if (claimed.Count == 0) return (0, 0);
        var accountIds = claimed.SelectMany(t => new[] { t.DebitAccountId, t.CreditAccountId }).ToHashSet();
        var accounts = await LoadAccountsAsync(conn, tx, accountIds, forUpdate: true, ct).ConfigureAwait(false);
        var view = new LockedView(accounts, accountIds);
        foreach (var t in claimed) view.AddStored(t, PendingState.Open);
        var changes = LedgerEngine.Expire(claimed, view);
        view.Merge(changes);
        await WriteAsync(conn, tx, view, ct).ConfigureAwait(false);
        attempt.CommitStarted = true;
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return (claimed.Count, changes.PendingStates.Count);
    }

    public ValueTask PingAsync(CancellationToken ct = default) =>
        new(RunAsync(async (conn, _, token) =>
        {
            await using var cmd = new NpgsqlCommand("SELECT 1", conn);
            await cmd.ExecuteScalarAsync(token).ConfigureAwait(false);
            return true;
        }, ct));

    // ---------------------------------------------------------------- transfers: group commit

    public ValueTask<IReadOnlyList<CreateTransferResult>> CreateTransfersAsync(IReadOnlyList<Transfer> transfers, CancellationToken ct = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        ct.ThrowIfCancellationRequested();
        if (transfers.Count == 0) return new([]);
        var request = new WriteRequest(transfers.ToArray(), ct);
        if (!_queue.Writer.TryWrite(request)) throw new ObjectDisposedException(nameof(PostgresLedger));
        // Once queued the batch completes with its outcome; cancellation only drops it before it is taken.
        return new(request.Completion.Task);
    }

    private async Task WriterLoopAsync()
    {
        var reader = _queue.Reader;
        var group = new List<WriteRequest>();
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            group.Clear();
            int transfers = 0;
            while (group.Count < _options.MaxBatchesPerCommit && (group.Count == 0 || transfers < _options.MaxTransfersPerCommit) && reader.TryRead(out var r))
            {
                if (r.Cancellation.IsCancellationRequested)
                {
                    r.Completion.TrySetCanceled(r.Cancellation);
                    continue;
                }
                group.Add(r);
                transfers += r.Transfers.Length;
            }
            if (group.Count == 0) continue;
            try
            {
                var outcomes = await RunAsync((conn, attempt, token) => CommitGroupAsync(conn, attempt, group, token), CancellationToken.None).ConfigureAwait(false);
                Interlocked.Increment(ref _commits);
                Interlocked.Add(ref _committedBatches, group.Count);
                Volatile.Write(ref _lastCommitBatches, group.Count);
                for (int i = 0; i < group.Count; i++)
                {
                    if (outcomes[i].Error is { } error) group[i].Completion.TrySetException(error);
                    else group[i].Completion.TrySetResult(outcomes[i].Results!);
                }
                try { BatchCommitted?.Invoke(group.Count); }
                catch { /* a metrics callback must not stop the writer */ }
            }
            catch (Exception e)
            {
                foreach (var r in group) r.Completion.TrySetException(e);
            }
        }
    }

    private async Task<(CreateTransferResult[]? Results, Exception? Error)[]> CommitGroupAsync(
        NpgsqlConnection conn, Attempt attempt, List<WriteRequest> group, CancellationToken ct)
    {
        var now = _options.Time.GetUtcNow();
        var transferIds = new HashSet<UInt128>();
        var accountIds = new HashSet<UInt128>();
        foreach (var request in group)
            foreach (var t in request.Transfers)
            {
                if (t.Id != UInt128.Zero) transferIds.Add(t.Id);
                if (t.PendingId != UInt128.Zero) transferIds.Add(t.PendingId);
                if (t.DebitAccountId != UInt128.Zero) accountIds.Add(t.DebitAccountId);
                if (t.CreditAccountId != UInt128.Zero) accountIds.Add(t.CreditAccountId);
            }

        await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
        // Lock order: transfer rows (ascending id), then accounts (ascending id).
        var stored = new List<(Transfer T, PendingState? S)>();
        if (transferIds.Count > 0)
        {
            await using var cmd = new NpgsqlCommand($"SELECT {TransferColumns} FROM transfers WHERE id = ANY($1) ORDER BY id FOR UPDATE", conn, tx);
            cmd.Parameters.Add(UuidArray(transferIds));
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var t = ReadTransfer(r, out var s);
                stored.Add((t, s));
            }
        }
        // A post or void names only the pending id: the pending's accounts are locked too.
        foreach (var (t, _) in stored)
            if (t.Flags.HasFlag(TransferFlags.Pending))
            {
                accountIds.Add(t.DebitAccountId);
                accountIds.Add(t.CreditAccountId);
            }
        var accounts = await LoadAccountsAsync(conn, tx, accountIds, forUpdate: true, ct).ConfigureAwait(false);
        var view = new LockedView(accounts, accountIds);
        foreach (var (t, s) in stored) view.AddStored(t, s);

        var outcomes = new (CreateTransferResult[]?, Exception?)[group.Count];
        for (int i = 0; i < group.Count; i++)
        {
            try
            {
                var (results, changes) = LedgerEngine.Apply(group[i].Transfers, view, now);
                view.Merge(changes);
                outcomes[i] = (results, null);
            }
            catch (LedgerInvariantException e)
            {
                outcomes[i] = (null, e);
            }
        }
        await WriteAsync(conn, tx, view, ct).ConfigureAwait(false);
        attempt.CommitStarted = true;
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return outcomes;
    }

    /// <summary>Writes the view's changes (account totals, new transfers, pending states) in one round trip.</summary>
    private static async Task WriteAsync(NpgsqlConnection conn, NpgsqlTransaction tx, LockedView view, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(conn, tx);
        var dirty = view.DirtyAccounts.Select(id => view.GetAccount(id)!).ToArray();
        if (dirty.Length > 0)
        {
            var cmd = new NpgsqlBatchCommand("""
                UPDATE accounts a SET debits_pending = u.dp, debits_posted = u.dpo, credits_pending = u.cp, credits_posted = u.cpo
                FROM unnest($1::uuid[], $2::numeric[], $3::numeric[], $4::numeric[], $5::numeric[]) AS u(id, dp, dpo, cp, cpo)
                WHERE a.id = u.id
                """);
            cmd.Parameters.Add(UuidArray(dirty.Select(a => a.Id)));
            cmd.Parameters.Add(NumericArray(dirty.Select(a => a.DebitsPending)));
            cmd.Parameters.Add(NumericArray(dirty.Select(a => a.DebitsPosted)));
            cmd.Parameters.Add(NumericArray(dirty.Select(a => a.CreditsPending)));
            cmd.Parameters.Add(NumericArray(dirty.Select(a => a.CreditsPosted)));
            batch.BatchCommands.Add(cmd);
        }
        var added = view.NewTransfers;
        if (added.Count > 0)
        {
            var cmd = new NpgsqlBatchCommand($"""
                INSERT INTO transfers ({TransferColumns})
                SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::numeric[], $5::uuid[], $6::bigint[], $7::int[], $8::int[], $9::bigint[], $10::timestamptz[], $11::smallint[])
                """);
            cmd.Parameters.Add(UuidArray(added.Select(t => t.Id)));
            cmd.Parameters.Add(UuidArray(added.Select(t => t.DebitAccountId)));
            cmd.Parameters.Add(UuidArray(added.Select(t => t.CreditAccountId)));
            cmd.Parameters.Add(NumericArray(added.Select(t => t.Amount)));
            cmd.Parameters.Add(P(added.Select(t => t.PendingId == UInt128.Zero ? (Guid?)null : ToUuid(t.PendingId)).ToArray()));
            cmd.Parameters.Add(P(added.Select(t => (long)t.Ledger).ToArray()));
            cmd.Parameters.Add(P(added.Select(t => (int)t.Code).ToArray()));
            cmd.Parameters.Add(P(added.Select(t => (int)t.Flags).ToArray()));
            cmd.Parameters.Add(P(added.Select(t => t.TimeoutAt?.UtcTicks).ToArray()));
            cmd.Parameters.Add(P(added.Select(t => t.CreatedAt.UtcDateTime).ToArray()));
            cmd.Parameters.Add(P(added.Select(t => view.GetPendingState(t.Id) is { } s ? (short?)(short)s : null).ToArray()));
            batch.BatchCommands.Add(cmd);
        }
        var changedStates = view.ChangedStates.Where(kv => !view.IsNew(kv.Key)).ToArray();
        if (changedStates.Length > 0)
        {
            var cmd = new NpgsqlBatchCommand("""
                UPDATE transfers t SET state = u.s FROM unnest($1::uuid[], $2::smallint[]) AS u(id, s) WHERE t.id = u.id
                """);
            cmd.Parameters.Add(UuidArray(changedStates.Select(kv => kv.Key)));
            cmd.Parameters.Add(P(changedStates.Select(kv => (short)kv.Value).ToArray()));
            batch.BatchCommands.Add(cmd);
        }
        if (batch.BatchCommands.Count > 0) await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static async Task<Dictionary<UInt128, Account>> LoadAccountsAsync(
        NpgsqlConnection conn, NpgsqlTransaction? tx, IEnumerable<UInt128> ids, bool forUpdate, CancellationToken ct)
    {
        var result = new Dictionary<UInt128, Account>();
        var sorted = ids.Order().ToArray();
        if (sorted.Length == 0) return result;
        await using var cmd = new NpgsqlCommand(
            $"SELECT {AccountColumns} FROM accounts WHERE id = ANY($1) ORDER BY id{(forUpdate ? " FOR UPDATE" : "")}", conn, tx);
        cmd.Parameters.Add(UuidArray(sorted));
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            var a = ReadAccount(r);
            result[a.Id] = a;
        }
        return result;
    }

    // ---------------------------------------------------------------- connections, retries, errors

    private sealed class Attempt
    {
        /// <summary>Set just before COMMIT: after that a lost connection leaves the outcome unknown, so no silent retry.</summary>
        public bool CommitStarted;
    }

    private async Task<T> RunAsync<T>(Func<NpgsqlConnection, Attempt, CancellationToken, Task<T>> work, CancellationToken ct)
    {
        int conflicts = 0;
        bool reconnected = false;
        while (true)
        {
            var attempt = new Attempt();
            NpgsqlConnection? conn = null;
            try
            {
                try
                {
                    conn = await _db.OpenConnectionAsync(ct).ConfigureAwait(false);
                }
                catch (Exception e) when (IsUnavailable(e) && !ct.IsCancellationRequested)
                {
                    _db.Clear();
                    throw new LedgerUnavailableException($"PostgreSQL ledger unavailable: {e.Message}", e);
                }
                return await work(conn, attempt, ct).ConfigureAwait(false);
            }
            catch (PostgresException e) when (IsConflict(e) && conflicts < _options.MaxConflictRetries)
            {
                // Serialization failure, deadlock, or two nodes inserting the same transfer id:
                // the transaction rolled back; run it again against fresh rows.
                conflicts++;
                await Task.Delay(Random.Shared.Next(1, 5 * conflicts), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (IsUnavailable(e) && !ct.IsCancellationRequested)
            {
                // A pooled connection may have died with a server restart: drop the pool and, when
                // nothing can have been committed, try once more on a fresh connection.
                _db.Clear();
                if (!reconnected && !attempt.CommitStarted && e is not PostgresException)
                {
                    reconnected = true;
                    continue;
                }
                throw new LedgerUnavailableException(
                    attempt.CommitStarted
                        ? $"PostgreSQL ledger connection lost during COMMIT (outcome unknown; retrying the same ids is safe): {e.Message}"
                        : $"PostgreSQL ledger unavailable: {e.Message}", e);
            }
            finally
            {
                if (conn is not null) await conn.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static bool IsConflict(PostgresException e) =>
        e.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.UniqueViolation;

    private static bool IsUnavailable(Exception e) =>
        e is NpgsqlException or IOException or SocketException or TimeoutException
        || (e is InvalidOperationException && e.InnerException is NpgsqlException or IOException or SocketException);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _queue.Writer.TryComplete();
        try { await _writer.ConfigureAwait(false); }
        catch { /* the loop completes every request itself */ }
        await _db.DisposeAsync().ConfigureAwait(false);
    }

    private sealed record WriteRequest(Transfer[] Transfers, CancellationToken Cancellation)
    {
        public TaskCompletionSource<IReadOnlyList<CreateTransferResult>> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>
    /// The engine's view of one transaction: the locked rows plus every change applied so far in
    /// the group (earlier caller batches are visible to later ones). Asking for an account that was
    /// not locked is a bug and throws rather than reading an unlocked row.
    /// </summary>
    private sealed class LockedView(Dictionary<UInt128, Account> accounts, HashSet<UInt128> lockedAccountIds) : ILedgerStateView
    {
        private readonly Dictionary<UInt128, Transfer> _transfers = [];
        private readonly Dictionary<UInt128, PendingState> _states = [];
        private readonly HashSet<UInt128> _newIds = [];

        public HashSet<UInt128> DirtyAccounts { get; } = [];
        public List<Transfer> NewTransfers { get; } = [];
        public Dictionary<UInt128, PendingState> ChangedStates { get; } = [];

        public void AddStored(Transfer t, PendingState? state)
        {
            _transfers[t.Id] = t;
            if (state is { } s) _states[t.Id] = s;
        }

        public bool IsNew(UInt128 id) => _newIds.Contains(id);

        public Account? GetAccount(UInt128 id)
        {
            if (!lockedAccountIds.Contains(id)) throw new InvalidOperationException($"ledger bug: account {id} read without its row lock");
            return accounts.GetValueOrDefault(id);
        }

        public Transfer? GetTransfer(UInt128 id) => _transfers.GetValueOrDefault(id);

        public PendingState? GetPendingState(UInt128 pendingId) => _states.TryGetValue(pendingId, out var s) ? s : null;

        public void Merge(LedgerChangeSet changes)
        {
            foreach (var (id, a) in changes.Accounts)
            {
                accounts[id] = a;
                DirtyAccounts.Add(id);
            }
            foreach (var t in changes.Transfers)
            {
                _transfers[t.Id] = t;
                _newIds.Add(t.Id);
                NewTransfers.Add(t);
            }
            foreach (var (id, s) in changes.PendingStates)
            {
                _states[id] = s;
                ChangedStates[id] = s;
            }
        }
    }
}
