using M2M.Core.Ledger;
using M2M.Ledger.Sqlite;
using Microsoft.Data.Sqlite;

namespace M2M.Ledger.Tests;

/// <summary>The contract suite on a real SQLite file in a temp directory.</summary>
[Trait("Tier", "integration")]
public sealed class SqliteLedgerContractTests : LedgerContractTests, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("m2m-ledger-").FullName;

    private string DbPath => Path.Combine(_dir, "data", "ledger.db");

    protected override Task<ILedger> OpenAsync() => Task.FromResult<ILedger>(SqliteLedger.Open(DbPath));

    protected override async Task<ILedger> ReopenAsync(ILedger ledger)
    {
        await ledger.DisposeAsync();
        return SqliteLedger.Open(DbPath);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void A_second_owner_of_the_same_file_is_refused()
    {
        var e = Assert.Throws<LedgerUnavailableException>(() => SqliteLedger.Open(DbPath));
        Assert.Contains("in use by another connector process", e.Message);
    }

    [Fact]
    public async Task The_file_uses_WAL_and_full_synchronous_and_records_its_schema_version()
    {
        await Ledger.PingAsync();
        using var c = new SqliteConnection($"Data Source={DbPath};Mode=ReadOnly;Pooling=false");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", cmd.ExecuteScalar());
        cmd.CommandText = "SELECT MAX(version) FROM schema_version";
        Assert.Equal((long)SqliteLedger.Migrations.Latest, cmd.ExecuteScalar());
    }

    [Fact]
    public async Task A_file_from_a_newer_release_is_refused_naming_both_versions()
    {
        await Ledger.DisposeAsync();
        using (var c = new SqliteConnection($"Data Source={DbPath};Pooling=false"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "INSERT INTO schema_version (version, applied_at) VALUES (7, 0)";
            cmd.ExecuteNonQuery();
        }
        var e = Assert.Throws<LedgerUnavailableException>(() => SqliteLedger.Open(DbPath));
        Assert.Contains("schema version 7", e.Message);
        Assert.Contains($"up to {SqliteLedger.Migrations.Latest}", e.Message);
        Ledger = new MemoryLedger();
    }

    [Fact]
    public async Task A_duplicate_id_in_a_later_batch_is_caught_by_the_optimistic_check_and_redone()
    {
        var ledger = (SqliteLedger)Ledger;
        UInt128 a = await Account(), b = await Account();
        var t = new Transfer { Id = NewId(), DebitAccountId = a, CreditAccountId = b, Amount = 7, Ledger = Usd, Code = 1 };
        Assert.Equal(CreateTransferResult.Ok, await One(t));
        Assert.Equal(0, ledger.OptimisticRetries);

        // Re-inserted (constraint path), then not re-inserted (lookup path).
        Assert.Equal(CreateTransferResult.Exists, await One(t));
        Assert.Equal(1, ledger.OptimisticRetries);
        Assert.Equal(CreateTransferResult.ExistsWithDifferentFields, await One(t with { DebitAccountId = b, CreditAccountId = b }));
        Assert.Equal(2, ledger.OptimisticRetries);
        // A new id costs no retry.
        Assert.Equal(CreateTransferResult.Ok, await One(t with { Id = NewId() }));
        Assert.Equal(2, ledger.OptimisticRetries);
        Assert.Equal((UInt128)14, (await Get(a)).DebitsPosted);
        await AssertConsistent();
    }

    [Fact]
    public async Task Concurrent_callers_are_committed_in_shared_batches()
    {
        var sizes = new List<int>();
        ((SqliteLedger)Ledger).BatchCommitted += (n, _) => { lock (sizes) sizes.Add(n); };
        UInt128 a = await Account(), b = await Account();

        var results = await Task.WhenAll(Enumerable.Range(0, 400).Select(_ => One(Pending(a, b, 1))));

        Assert.All(results, r => Assert.Equal(CreateTransferResult.Ok, r));
        Assert.Equal((UInt128)400, (await Get(a)).DebitsPending);
        lock (sizes) Assert.True(sizes.Max() > 1, $"no batch carried more than one caller: {string.Join(",", sizes)}");
    }
}
