using M2M.TestKit;
using System.Diagnostics;
using M2M.Core.Ledger;
using M2M.Ledger.Postgres;

namespace M2M.Ledger.Tests;

/// <summary>
/// The database goes away under an open ledger and comes back. Uses its own server instance
/// (not the shared collection fixture) so stopping it cannot disturb other tests.
/// </summary>
[Trait("Tier", "integration")]
public sealed class PostgresOutageTests : IAsyncLifetime
{
    private readonly PostgresServer _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    [Fact]
    public async Task A_stopped_database_fails_calls_fast_and_the_same_ledger_recovers_after_restart()
    {
        var cs = await _server.CreateDatabaseAsync();
        await using var ledger = await PostgresLedger.OpenAsync(cs);
        var a = new Account { Id = 1, Ledger = 1, Code = 1 };
        var b = new Account { Id = 2, Ledger = 1, Code = 1 };
        Assert.All(await ledger.CreateAccountsAsync([a, b]), r => Assert.Equal(CreateAccountResult.Ok, r));
        var first = new Transfer { Id = 10, DebitAccountId = 1, CreditAccountId = 2, Amount = 5, Ledger = 1, Code = 1 };
        Assert.Equal(CreateTransferResult.Ok, (await ledger.CreateTransfersAsync([first]))[0]);

        await _server.StopAsync("immediate");

        var during = first with { Id = 11 };
        await AssertFailsFast(async () => await ledger.CreateTransfersAsync([during]));
        await AssertFailsFast(async () => await ledger.PingAsync());
        await AssertFailsFast(async () => await ledger.LookupAccountAsync(1));
        await AssertFailsFast(async () => await ledger.ExpirePendingAsync(DateTimeOffset.UtcNow));
        // Several callers queued at once are all failed, none hangs.
        var many = Enumerable.Range(0, 20).Select(i => Task.Run(async () => await ledger.CreateTransfersAsync([first with { Id = (UInt128)(100 + i) }]))).ToArray();
        foreach (var t in many) await AssertFailsFast(() => t);

        await _server.StartAsync();

        await ledger.PingAsync();
        Assert.Equal(CreateTransferResult.Ok, (await ledger.CreateTransfersAsync([during]))[0]);
        Assert.Equal(CreateTransferResult.Exists, (await ledger.CreateTransfersAsync([first]))[0]);
        Assert.Equal((UInt128)10, (await ledger.LookupAccountAsync(2))!.CreditsPosted);
        await Books.AssertConsistentAsync(ledger);
    }

    private static async Task AssertFailsFast(Func<Task> call)
    {
        var clock = Stopwatch.StartNew();
        var task = call();
        var finished = await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.Same(task, finished);
        var e = await Assert.ThrowsAsync<LedgerUnavailableException>(() => task);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.Elapsed.TotalSeconds:F1} s to fail: {e.Message}");
    }
}
