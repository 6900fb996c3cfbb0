using System.Runtime.CompilerServices;

namespace M2M.Core.Ledger;

/// <summary>
/// Benchmark only (TestSeams.BenchNullLedger, M2M_BENCH_NULL_LEDGER=1; never an operator mode): a
/// ledger that books nothing and answers Ok to every call, so `bench/compare.sh` can measure the
/// same build without a ledger in the same run and report what the durable ledger adds per packet.
/// Balances stay zero, credit limits are not enforced, nothing survives a restart.
/// </summary>
public sealed class NullLedger : ILedger
{
    private static readonly IReadOnlyList<CreateTransferResult>[] OkTransfers =
        [.. Enumerable.Range(0, 8).Select(n => (IReadOnlyList<CreateTransferResult>)Enumerable.Repeat(CreateTransferResult.Ok, n).ToArray())];

    public string Backend => "null (benchmark only: books nothing)";

    public ValueTask<IReadOnlyList<CreateAccountResult>> CreateAccountsAsync(IReadOnlyList<Account> accounts, CancellationToken ct = default) =>
        ValueTask.FromResult<IReadOnlyList<CreateAccountResult>>([.. accounts.Select(_ => CreateAccountResult.Ok)]);

    /// <summary>Ok for each transfer; the result lists are shared and read-only, so a packet allocates nothing here.</summary>
    public ValueTask<IReadOnlyList<CreateTransferResult>> CreateTransfersAsync(IReadOnlyList<Transfer> transfers, CancellationToken ct = default) =>
        ValueTask.FromResult(transfers.Count < OkTransfers.Length
            ? OkTransfers[transfers.Count]
            : (IReadOnlyList<CreateTransferResult>)[.. transfers.Select(_ => CreateTransferResult.Ok)]);

    public ValueTask<bool> SetDebitLimitAsync(UInt128 id, UInt128? debitLimit, CancellationToken ct = default) => ValueTask.FromResult(true);

    public ValueTask<Account?> LookupAccountAsync(UInt128 id, CancellationToken ct = default) => ValueTask.FromResult<Account?>(null);

    public ValueTask<IReadOnlyList<Account>> ListAccountsAsync(CancellationToken ct = default) => ValueTask.FromResult<IReadOnlyList<Account>>([]);

    public async IAsyncEnumerable<(Transfer Transfer, PendingState? State)> ReadJournalAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        yield break;
    }

    public ValueTask<int> ExpirePendingAsync(DateTimeOffset now, CancellationToken ct = default) => ValueTask.FromResult(0);

    public ValueTask PingAsync(CancellationToken ct = default) => ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
