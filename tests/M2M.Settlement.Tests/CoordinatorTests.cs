using M2M.Core.Ledger;
using M2M.Ledger.Sqlite;
using M2M.Settlement.Coordination;
using M2M.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Settlement.Tests;

/// <summary>The coordinator over a real SQLite ledger and a real settlement store file.</summary>
[Trait("Tier", "integration")]
public sealed class CoordinatorTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("m2m-settle-").FullName;
    private SqliteLedger _ledger = null!;
    private static readonly PeerSettlementPolicy Bob = new("bob", "test", Threshold: 500, SettleTo: 100, "USD", 9);
    private static readonly SettlementOptions Fast = new() { PollInterval = TimeSpan.FromHours(1), BaseRetryDelay = TimeSpan.FromMilliseconds(20) };

    public async Task InitializeAsync()
    {
        _ledger = SqliteLedger.Open(Path.Combine(_dir, "ledger.db"));
        var bob = PeerAccounts.PeerAccount("bob", "USD", 9, null);
        var clearing = PeerAccounts.ClearingAccount("USD", 9);
        await _ledger.CreateAccountsAsync([bob, clearing]);
    }

    public async Task DisposeAsync()
    {
        await _ledger.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task Owe(ulong amount)
    {
        var bob = PeerAccounts.PeerAccount("bob", "USD", 9, null);
        var results = await _ledger.CreateTransfersAsync([new Transfer
        {
            Id = PeerAccounts.NewTransferId(), DebitAccountId = PeerAccounts.ClearingAccount("USD", 9).Id, CreditAccountId = bob.Id,
            Amount = amount, Ledger = bob.Ledger, Code = 1,
        }]);
        Assert.Equal(CreateTransferResult.Ok, results[0]);
    }

    private async Task<Int128> BobBalance() => (await _ledger.LookupAccountAsync(PeerAccounts.PeerAccount("bob", "USD", 9, null).Id))!.PostedBalance;

    private async Task<SettlementCoordinator> Start(ISettlementMethod method, SettlementOptions? options = null)
    {
        var store = SettlementStore.Open(Path.Combine(_dir, "settlements.db"));
        var c = new SettlementCoordinator(store, _ledger, [method], [Bob], TimeProvider.System, NullLogger.Instance, options ?? Fast);
        await c.StartAsync(CancellationToken.None);
        return c;
    }

    private static async Task UntilSettled(SettlementCoordinator c, int passes = 200)
    {
        // The first pass may be the one that creates the settlement.
        for (int i = 0; i < passes && (i == 0 || c.OpenCount > 0); i++)
        {
            await c.RunOnceAsync(CancellationToken.None);
            await Task.Delay(25);
        }
    }

    [Fact]
    public async Task Crossing_the_threshold_creates_exactly_one_settlement_down_to_settle_to()
    {
        var method = new PayOnce();
        await using var c = await Start(method);
        await Owe(499);
        await c.RunOnceAsync(CancellationToken.None);
        Assert.Empty(c.Store.List());

        await Owe(501);
        await c.RunOnceAsync(CancellationToken.None);
        await c.RunOnceAsync(CancellationToken.None);

        var record = Assert.Single(c.Store.List());
        Assert.Equal((SettlementState.Confirmed, 900UL, 1), (record.State, record.Amount, record.Attempts));
        Assert.Equal((Int128)100, await BobBalance());
        Assert.Equal(1, method.Payments);
        await AssertBooksConsistent();
    }

    [Fact]
    public async Task Automatic_settlements_respect_the_minimum_interval()
    {
        var method = new PayOnce();
        var store = SettlementStore.Open(Path.Combine(_dir, "settlements.db"));
        await using var c = new SettlementCoordinator(store, _ledger, [method], [Bob with { MinInterval = TimeSpan.FromHours(1) }], TimeProvider.System, NullLogger.Instance, Fast);
        await c.StartAsync(CancellationToken.None);
        await Owe(1000);
        await UntilSettled(c);
        await Owe(1000);

        await UntilSettled(c);

        Assert.Single(c.Store.List());
        Assert.Equal((Int128)1100, await BobBalance());
        // An operator's request is not limited by the interval.
        await c.RequestAsync("bob", null, null, default);
        await UntilSettled(c);
        Assert.Equal(2, c.Store.List(SettlementState.Confirmed).Count);
        Assert.Equal((Int128)100, await BobBalance());
    }

    [Fact]
    public async Task A_failing_payment_is_retried_with_backoff_and_never_settles_twice()
    {
        var method = new PayOnce { FailFirst = 2 };
        await using var c = await Start(method);
        await Owe(1000);

        await UntilSettled(c);

        var record = Assert.Single(c.Store.List());
        Assert.Equal((SettlementState.Confirmed, 3), (record.State, record.Attempts));
        Assert.Equal(1, method.Payments);
        Assert.Equal((Int128)100, await BobBalance());
        await AssertBooksConsistent();
    }

    [Fact]
    public async Task A_restart_resumes_a_submitted_settlement_without_paying_again()
    {
        var method = new PayOnce();
        var id = Guid.NewGuid();
        await Owe(1000);
        using (var store = SettlementStore.Open(Path.Combine(_dir, "settlements.db")))
        {
            // The previous process paid and died before recording the outcome.
            var now = DateTimeOffset.UtcNow;
            store.CreateOrGetOpen(new SettlementRecord { Id = id, PeerId = "bob", Method = "test", Amount = 900, Token = "USD/9", State = SettlementState.Submitted, Attempts = 1, CreatedAt = now, UpdatedAt = now, NextAttemptAt = now });
            method.Paid.Add(id);
        }

        await using var c = await Start(method);
        await UntilSettled(c);

        var record = Assert.Single(c.Store.List());
        Assert.Equal((id, SettlementState.Confirmed, 2), (record.Id, record.State, record.Attempts));
        Assert.Equal(0, method.Payments);
        Assert.Equal((Int128)100, await BobBalance());
    }

    [Fact]
    public async Task After_max_attempts_the_settlement_is_failed_and_counts_against_the_success_rate()
    {
        var method = new PayOnce { FailFirst = int.MaxValue };
        await using var c = await Start(method, Fast with { MaxAttempts = 3, BaseRetryDelay = TimeSpan.FromMilliseconds(5) });
        await Owe(1000);

        await UntilSettled(c);

        var record = Assert.Single(c.Store.List());
        Assert.Equal((SettlementState.Failed, 3), (record.State, record.Attempts));
        Assert.Contains("injected", record.LastError);
        Assert.Equal((Int128)1000, await BobBalance());
        Assert.Equal(0.0, c.SuccessRate);
    }

    [Fact]
    public async Task Requests_are_validated_with_clear_messages()
    {
        await using var c = await Start(new PayOnce());
        await Owe(300);

        Assert.Contains("no settlement configured", (await Assert.ThrowsAsync<SettlementRequestException>(() => c.RequestAsync("carol", null, null, default))).Message);
        Assert.Contains("not available", (await Assert.ThrowsAsync<SettlementRequestException>(() => c.RequestAsync("bob", null, "evm", default))).Message);
        Assert.Contains("more than the 300", (await Assert.ThrowsAsync<SettlementRequestException>(() => c.RequestAsync("bob", 301, null, default))).Message);
        var record = await c.RequestAsync("bob", 50, null, default);
        Assert.Equal((50UL, SettlementState.Pending), (record.Amount, record.State));
        // One open settlement per peer: a second request returns the open one.
        Assert.Equal(record.Id, (await c.RequestAsync("bob", 60, null, default)).Id);
        await UntilSettled(c);
        Assert.Equal((Int128)250, await BobBalance());
    }

    [Fact]
    public async Task The_rfc38_method_posts_to_the_engine_with_the_settlement_id_as_idempotency_key()
    {
        var seen = new List<(string Path, string? Key, string Body)>();
        var (engine, url) = await LoopbackWeb.StartAsync(app => app.MapPost("/accounts/{id}/settlements", async (HttpContext ctx) =>
        {
            using var reader = new StreamReader(ctx.Request.Body);
            string body = await reader.ReadToEndAsync();
            lock (seen) seen.Add((ctx.Request.Path, ctx.Request.Headers["Idempotency-Key"], body));
            return Results.Created();
        }));
        await using var _ = engine;
        using var http = new HttpClient();
        var method = new Rfc38SettlementMethod(http, _ => url, _ => 9);
        await using var c = new SettlementCoordinator(SettlementStore.Open(Path.Combine(_dir, "s.db")), _ledger, [method], [Bob with { Method = "rfc38" }], TimeProvider.System, NullLogger.Instance, Fast);
        await c.StartAsync(default);
        await Owe(700);

        await UntilSettled(c);

        var record = Assert.Single(c.Store.List());
        var call = Assert.Single(seen);
        Assert.Equal("/accounts/bob/settlements", call.Path);
        Assert.Equal(record.Id.ToString(), call.Key);
        Assert.Equal("{\"amount\":\"600\",\"scale\":9}", call.Body);
        Assert.Equal(SettlementState.Confirmed, record.State);
    }

    private async Task AssertBooksConsistent()
    {
        await Books.AssertConsistentAsync(_ledger);
    }

    /// <summary>A payment rail that can fail on demand and pays each settlement id at most once (idempotent, like a real one must be).</summary>
    private sealed class PayOnce : ISettlementMethod
    {
        public int FailFirst { get; init; }
        public HashSet<Guid> Paid { get; } = [];
        public int Payments { get; private set; }
        private int _calls;

        public string Name => "test";

        public Task<SettlementReceipt> SettleAsync(SettlementRecord settlement, CancellationToken ct)
        {
            if (_calls++ < FailFirst) throw new SettlementFailedException("injected chain failure");
            if (Paid.Add(settlement.Id)) Payments++;
            return Task.FromResult(new SettlementReceipt($"tx-{settlement.Id:N}"));
        }
    }
}
