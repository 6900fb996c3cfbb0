using M2M.TestKit;
using M2M.Core.Ledger;
using M2M.Ledger.Postgres;

namespace M2M.Ledger.Tests;

/// <summary>The whole contract suite against a real PostgreSQL server, one fresh database per test.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresLedgerContractTests(PostgresServer server) : LedgerContractTests
{
    private string? _connectionString;

    protected override async Task<ILedger> OpenAsync()
    {
        _connectionString = await server.CreateDatabaseAsync();
        return await PostgresLedger.OpenAsync(_connectionString);
    }

    protected override async Task<ILedger> ReopenAsync(ILedger ledger)
    {
        await ledger.DisposeAsync();
        return await PostgresLedger.OpenAsync(_connectionString!);
    }
}
