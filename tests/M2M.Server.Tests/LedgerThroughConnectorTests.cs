using M2M.TestKit;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Ledger.Sqlite;
using M2M.Server.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Server.Tests;

/// <summary>Packets through a connector with its real SQLite ledger: what the books say afterwards.</summary>
[Trait("Tier", "integration")]
public class LedgerThroughConnectorTests
{
    private static ConnectorSettings Settings(ulong? aliceLimit = null) => TestConnector.WithTempLedger(TestConnector.TwoPeers() with
    {
        AdminApiToken = "admin-token",
        Peers =
        [
            new PeerSettings { Id = "alice", AuthToken = "alice-secret", CreditLimit = aliceLimit },
            new PeerSettings { Id = "bob", AuthToken = "bob-secret" },
        ],
    });

    private static async Task<Account> PeerAccount(ConnectorHost host, string peer) =>
        (await host.Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId(peer, PeerAccounts.LedgerFor("USD", 9))))!;

    private static async Task AssertConsistent(ConnectorHost host)
    {
        var report = await Books.AssertConsistentAsync(host.Accounting.Ledger);
        Assert.Equal(0, report.OpenPending);
    }

    [Fact]
    public async Task Fulfilled_packets_move_value_from_sender_to_receiver_and_rejected_ones_leave_no_trace()
    {
        await using var host = await TestConnector.StartAsync(Settings());
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");

        Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 300)));
        Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 45)));
        bob.OnPrepare = _ => Task.FromResult<IlpReply>(new IlpReject { Code = "F99", TriggeredBy = "g.bob", Message = "no" });
        Assert.IsType<IlpReject>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 1000)));
        Assert.IsType<IlpReject>(await alice.SendAsync(TestPeer.Payment("g.nowhere.x", 7)));

        var (a, b) = (await PeerAccount(host, "alice"), await PeerAccount(host, "bob"));
        Assert.Equal((Int128)(-345), a.PostedBalance);
        Assert.Equal((Int128)345, b.PostedBalance);
        Assert.Equal((UInt128.Zero, UInt128.Zero), (a.DebitsPending, b.CreditsPending));
        await AssertConsistent(host);
    }

    [Fact]
    public async Task Credit_limit_is_enforced_with_T04_exactly_at_the_boundary()
    {
        await using var host = await TestConnector.StartAsync(Settings(aliceLimit: 1000));
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");

        Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 600)));
        Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 400)));
        var reject = Assert.IsType<IlpReject>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 1)));

        Assert.Equal("T04", reject.Code);
        Assert.Equal(2, bob.Received.Count);
        Assert.Equal((Int128)(-1000), (await PeerAccount(host, "alice")).PostedBalance);
        // Bob has no limit configured, and value can flow back to alice, which frees her room.
        Assert.IsType<IlpFulfill>(await bob.SendAsync(TestPeer.Payment("g.alice.x", 10)));
        Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 10)));
        await AssertConsistent(host);
    }

    [Fact]
    public async Task Two_thousand_concurrent_packets_leave_consistent_books()
    {
        await using var host = await TestConnector.StartAsync(Settings(aliceLimit: 50_000));
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        // Every 7th packet is rejected by bob; many hit alice's credit limit.
        bob.OnPrepare = p => Task.FromResult<IlpReply>(p.Amount % 7 == 0
            ? new IlpReject { Code = "F99", TriggeredBy = "g.bob", Message = "no" }
            : new IlpFulfill { Fulfillment = p.Data.ToArray() });
        var random = new Random(3);
        var prepares = Enumerable.Range(0, 2000).Select(_ => TestPeer.Payment("g.bob.x", (ulong)random.Next(1, 60))).ToList();

        var replies = await Task.WhenAll(prepares.Select(alice.SendAsync));

        long fulfilled = prepares.Zip(replies).Where(x => x.Second is IlpFulfill).Sum(x => (long)x.First.Amount);
        Assert.Contains(replies, r => r is IlpReject { Code: "T04" });
        Assert.Contains(replies, r => r is IlpReject { Code: "F99" });
        Assert.Equal((Int128)(-fulfilled), (await PeerAccount(host, "alice")).PostedBalance);
        Assert.Equal((Int128)fulfilled, (await PeerAccount(host, "bob")).PostedBalance);
        Assert.True(fulfilled <= 50_000);
        await AssertConsistent(host);
    }

    [Fact]
    public async Task A_timed_out_packet_is_voided()
    {
        await using var host = await TestConnector.StartAsync(Settings());
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        bob.OnPrepare = async p =>
        {
            await Task.Delay(3000);
            return new IlpFulfill { Fulfillment = p.Data.ToArray() };
        };

        Assert.Equal("R00", Assert.IsType<IlpReject>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 5, expiresInSeconds: 2.2))).Code);

        var a = await PeerAccount(host, "alice");
        Assert.Equal((UInt128.Zero, UInt128.Zero), (a.DebitsPending, a.DebitsPosted));
        await AssertConsistent(host);
    }

    [Fact]
    public async Task Pending_transfers_left_by_a_crash_are_voided_before_traffic_is_accepted()
    {
        var settings = Settings();
        await using (var ledger = SqliteLedger.Open(settings.Ledger.Path))
        {
            var alice = PeerAccounts.PeerAccount("alice", "USD", 9, null);
            var clearing = PeerAccounts.ClearingAccount("USD", 9);
            await ledger.CreateAccountsAsync([alice, clearing]);
            var results = await ledger.CreateTransfersAsync([new Transfer
            {
                Id = 42, DebitAccountId = alice.Id, CreditAccountId = clearing.Id, Amount = 9, Ledger = alice.Ledger,
                Code = 1, Flags = TransferFlags.Pending, TimeoutAt = DateTimeOffset.UtcNow.AddMilliseconds(100),
            }]);
            Assert.Equal(CreateTransferResult.Ok, results[0]);
        }
        await Task.Delay(200);

        await using var host = await TestConnector.StartAsync(settings);

        Assert.Equal(UInt128.Zero, (await PeerAccount(host, "alice")).DebitsPending);
        await AssertConsistent(host);
    }

    [Fact]
    public async Task Ledger_down_means_T00_nothing_forwarded_and_health_unhealthy()
    {
        var flaky = new FlakyLedger(new MemoryLedger());
        var settings = Settings();
        await using var host = await ConnectorHost.CreateAsync(settings with { BindAddress = "127.0.0.1", BtpServerPort = 0, HealthCheckPort = 0 }, NullLoggerFactory.Instance, openLedger: _ => flaky);
        await host.StartAsync(CancellationToken.None);
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        using var http = new HttpClient();

        flaky.Down = true;
        var reject = Assert.IsType<IlpReject>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 5)));
        Assert.Equal("T00", reject.Code);
        Assert.Empty(bob.Received);
        using var health = await http.GetAsync($"http://127.0.0.1:{host.HealthPort}/health");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        var doc = JsonDocument.Parse(await health.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("unhealthy", doc.GetProperty("status").GetString());
        Assert.Equal("down", doc.GetProperty("dependencies").GetProperty("ledger").GetProperty("status").GetString());
        using var ready = await http.GetAsync($"http://127.0.0.1:{host.HealthPort}/health/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);

        flaky.Down = false;
        Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 5)));
    }

    [Fact]
    public async Task A_fulfill_whose_post_fails_is_answered_T00_and_counted()
    {
        var flaky = new FlakyLedger(new MemoryLedger());
        await using var host = await ConnectorHost.CreateAsync(Settings() with { BindAddress = "127.0.0.1", BtpServerPort = 0, HealthCheckPort = 0 }, NullLoggerFactory.Instance, openLedger: _ => flaky);
        await host.StartAsync(CancellationToken.None);
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        flaky.FailPosts = true;

        var reject = Assert.IsType<IlpReject>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 5)));

        Assert.Equal("T00", reject.Code);
        Assert.Single(bob.Received);
        using var http = new HttpClient();
        Assert.Contains("ledger_fulfill_post_failed_total 1", await http.GetStringAsync($"http://127.0.0.1:{host.HealthPort}/metrics"));
    }

    [Fact]
    public async Task A_post_that_committed_but_was_answered_T00_is_reversed_so_the_books_match_the_reject()
    {
        // Found by the crash harness (PostgreSQL stopped under load): the COMMIT landed, the
        // acknowledgement did not, the retries ran out, and the sender got T00 for a posted packet.
        var flaky = new FlakyLedger(new MemoryLedger());
        await using var host = await ConnectorHost.CreateAsync(Settings() with { BindAddress = "127.0.0.1", BtpServerPort = 0, HealthCheckPort = 0 }, NullLoggerFactory.Instance, openLedger: _ => flaky);
        await host.StartAsync(CancellationToken.None);
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 7)));
        flaky.LosePostAcks = true;

        var reject = Assert.IsType<IlpReject>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 5)));
        flaky.LosePostAcks = false;

        Assert.Equal("T00", reject.Code);
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "admin-token");
        string url = $"http://127.0.0.1:{host.HealthPort}/admin/balances";
        var deadline = DateTime.UtcNow.AddSeconds(10);
        Dictionary<string, string?> balances;
        do
        {
            await Task.Delay(50);
            balances = JsonDocument.Parse(await http.GetStringAsync(url)).RootElement.EnumerateArray().ToDictionary(e => e.GetProperty("peerId").GetString()!, e => e.GetProperty("balance").GetString());
        }
        while (balances["alice"] != "-7" && DateTime.UtcNow < deadline);
        Assert.Equal("-7", balances["alice"]); // only the fulfilled packet; the T00 one is reversed
        Assert.Equal("7", balances["bob"]);
    }

    [Fact]
    public async Task Admin_balances_need_the_bearer_token()
    {
        await using var host = await TestConnector.StartAsync(Settings());
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        await alice.SendAsync(TestPeer.Payment("g.bob.x", 12));
        using var http = new HttpClient();
        string url = $"http://127.0.0.1:{host.HealthPort}/admin/balances";

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(url)).StatusCode);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "wrong");
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(url)).StatusCode);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "admin-token");
        var balances = JsonDocument.Parse(await http.GetStringAsync(url)).RootElement.EnumerateArray().ToDictionary(e => e.GetProperty("peerId").GetString()!, e => e.GetProperty("balance").GetString());

        Assert.Equal("-12", balances["alice"]);
        Assert.Equal("12", balances["bob"]);
        string metrics = await http.GetStringAsync($"http://127.0.0.1:{host.HealthPort}/metrics");
        Assert.Contains("account_balance_units{peer_id=\"bob\",token_id=\"USD/9\",asset_code=\"USD\",asset_scale=\"9\"} 12", metrics);
        Assert.Contains("ledger_batch_size_count", metrics);
    }

    [Fact]
    public async Task Admin_api_is_refused_when_no_token_is_configured()
    {
        await using var host = await TestConnector.StartAsync(Settings() with { AdminApiToken = null });
        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync($"http://127.0.0.1:{host.HealthPort}/admin/balances")).StatusCode);
    }
}

/// <summary>Fault injection around a real ledger: the store "goes down" or refuses posts on demand.</summary>
internal sealed class FlakyLedger(ILedger inner) : ILedger
{
    public volatile bool Down;
    public volatile bool FailPosts;
    /// <summary>Posts commit, then the call fails as if the connection died before the acknowledgement.</summary>
    public volatile bool LosePostAcks;
    /// <summary>The next post commits, then the ledger goes down for good and the call fails; <see cref="PostLanded"/> tells whether it had applied.</summary>
    public volatile bool DieAfterNextPost;
    public volatile bool PostLanded;

    public string Backend => "flaky";

    private void Check()
    {
        if (Down) throw new LedgerUnavailableException("injected outage");
    }

    public ValueTask<IReadOnlyList<CreateAccountResult>> CreateAccountsAsync(IReadOnlyList<Account> accounts, CancellationToken ct = default)
    {
        Check();
        return inner.CreateAccountsAsync(accounts, ct);
    }

    public ValueTask<IReadOnlyList<CreateTransferResult>> CreateTransfersAsync(IReadOnlyList<Transfer> transfers, CancellationToken ct = default)
    {
        Check();
        bool post = transfers.Any(t => t.Flags.HasFlag(TransferFlags.PostPending));
        if (FailPosts && post) throw new LedgerUnavailableException("injected post failure");
        if (LosePostAcks && post) return LoseAck(transfers, ct);
        if (DieAfterNextPost && post) return Die(transfers, ct);
        return inner.CreateTransfersAsync(transfers, ct);
    }

    private async ValueTask<IReadOnlyList<CreateTransferResult>> Die(IReadOnlyList<Transfer> transfers, CancellationToken ct)
    {
        var results = await inner.CreateTransfersAsync(transfers, ct);
        PostLanded = results.All(r => r == CreateTransferResult.Ok);
        Down = true;
        throw new LedgerUnavailableException("injected: committed, then the ledger died");
    }

    private async ValueTask<IReadOnlyList<CreateTransferResult>> LoseAck(IReadOnlyList<Transfer> transfers, CancellationToken ct)
    {
        await inner.CreateTransfersAsync(transfers, ct);
        throw new LedgerUnavailableException("injected: committed, acknowledgement lost");
    }

    public ValueTask<bool> SetDebitLimitAsync(UInt128 id, UInt128? debitLimit, CancellationToken ct = default) => inner.SetDebitLimitAsync(id, debitLimit, ct);

    public ValueTask<Account?> LookupAccountAsync(UInt128 id, CancellationToken ct = default)
    {
        Check();
        return inner.LookupAccountAsync(id, ct);
    }

    public ValueTask<IReadOnlyList<Account>> ListAccountsAsync(CancellationToken ct = default) => inner.ListAccountsAsync(ct);

    public IAsyncEnumerable<(Transfer Transfer, PendingState? State)> ReadJournalAsync(CancellationToken ct = default) => inner.ReadJournalAsync(ct);

    public ValueTask<int> ExpirePendingAsync(DateTimeOffset now, CancellationToken ct = default)
    {
        Check();
        return inner.ExpirePendingAsync(now, ct);
    }

    public ValueTask PingAsync(CancellationToken ct = default)
    {
        Check();
        return inner.PingAsync(ct);
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
