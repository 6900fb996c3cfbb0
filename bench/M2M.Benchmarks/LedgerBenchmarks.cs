using BenchmarkDotNet.Attributes;
using M2M.Core.Ledger;
using M2M.Ledger.Sqlite;

namespace M2M.Benchmarks;

/// <summary>
/// Ledger backends, transfers/s by batch size (BenchmarkDotNet, MemoryDiagnoser). Each operation is
/// one transfer, so Mean is the time per transfer and Allocated the bytes per transfer:
/// <c>OneCall</c> sends <see cref="Batch"/> transfers in one call (one transaction, one fsync);
/// <c>ConcurrentCalls</c> sends <see cref="Batch"/> single-transfer calls at once, which the
/// writer's group commit folds into shared transactions (what packets do).
/// </summary>
[MemoryDiagnoser]
public class LedgerBenchmarks
{
    private ILedger _ledger = null!;
    private string _dir = "";
    private Account _from = null!;
    private Account _to = null!;

    [Params("memory", "sqlite")]
    public string Backend { get; set; } = "memory";

    [Params(1, 16, 256)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _dir = Directory.CreateTempSubdirectory("m2m-bdn-ledger-").FullName;
        _ledger = Backend == "sqlite" ? SqliteLedger.Open(Path.Combine(_dir, "ledger.db")) : new MemoryLedger();
        _from = PeerAccounts.PeerAccount("alice", "USD", 9, null);
        _to = PeerAccounts.ClearingAccount("USD", 9);
        _ledger.CreateAccountsAsync([_from, _to]).AsTask().GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _ledger.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_dir, recursive: true);
    }

    [Benchmark(OperationsPerInvoke = 256)]
    public async Task OneCall()
    {
        // 256 transfers per invocation whatever the batch, so every case does the same work.
        for (int done = 0; done < 256; done += Batch)
        {
            var batch = new Transfer[Batch];
            for (int i = 0; i < Batch; i++) batch[i] = NewTransfer();
            var results = await _ledger.CreateTransfersAsync(batch);
            if (!results[^1].IsApplied()) throw new InvalidOperationException(results[^1].ToString());
        }
    }

    [Benchmark(OperationsPerInvoke = 256)]
    public async Task ConcurrentCalls()
    {
        for (int done = 0; done < 256; done += Batch)
        {
            var calls = new Task<IReadOnlyList<CreateTransferResult>>[Batch];
            for (int i = 0; i < Batch; i++) calls[i] = _ledger.CreateTransfersAsync([NewTransfer()]).AsTask();
            foreach (var results in await Task.WhenAll(calls))
            {
                if (!results[0].IsApplied()) throw new InvalidOperationException(results[0].ToString());
            }
        }
    }

    private Transfer NewTransfer() => new()
    {
        Id = PeerAccounts.NewTransferId(), DebitAccountId = _from.Id, CreditAccountId = _to.Id, Amount = 1,
        Ledger = _from.Ledger, Code = 1, Flags = TransferFlags.None,
    };
}
