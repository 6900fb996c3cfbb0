using System.Collections.Concurrent;
using M2M.Core.Ilp;
using M2M.Core.Routing;
using M2M.TestKit;
using Microsoft.Extensions.Logging;

namespace M2M.Server.Tests;

/// <summary>CCP from BTP peers over real sockets: good updates route, bad ones are refused with one log line and no harm.</summary>
[Trait("Tier", "integration")]
public sealed class CcpFromPeersTests : IAsyncLifetime
{
    private readonly LogLines _logs = new();
    private ConnectorHost _host = null!;
    private TestPeer _alice = null!;
    private TestPeer _bob = null!;

    public async Task InitializeAsync()
    {
        var settings = TestConnector.WithTempLedger(TestConnector.TwoPeers()) with { BindAddress = "127.0.0.1", BtpServerPort = 0, HealthCheckPort = 0 };
        _host = await ConnectorHost.CreateAsync(settings, LoggerFactory.Create(b => b.AddProvider(_logs).SetMinimumLevel(LogLevel.Debug)));
        await _host.StartAsync(CancellationToken.None);
        _alice = await TestPeer.ConnectAsync(_host.BtpPort, "alice", "alice-secret");
        _bob = await TestPeer.ConnectAsync(_host.BtpPort, "bob", "bob-secret");
    }

    public async Task DisposeAsync()
    {
        await _alice.DisposeAsync();
        await _bob.DisposeAsync();
        await _host.DisposeAsync();
    }

    [Fact]
    public async Task A_learned_route_carries_payments_and_is_withdrawn_when_its_peer_disconnects()
    {
        // We ask each peer for its routes on connect (a plain test peer declines).
        await WaitUntil(() => _alice.PeerProtocol.Any(p => p.Destination == Ccp.ControlDestination), "route control sent to alice");

        var reply = await _alice.SendAsync(Update(0, 1, new CcpRoute("g.zzz", ["g.alice"], new byte[32], [])));
        Assert.IsType<IlpFulfill>(reply);
        Assert.Equal("alice", _host.Routes.Lookup("g.zzz.wallet")?.NextHop);

        var payment = TestPeer.Payment("g.zzz.wallet", amount: 77);
        Assert.IsType<IlpFulfill>(await _bob.SendAsync(payment));
        Assert.Contains(_alice.Received, p => p.Destination == "g.zzz.wallet" && p.Amount == 77);

        await _alice.DisposeAsync();
        await WaitUntil(() => _host.Routes.Lookup("g.zzz.wallet") is null, "g.zzz withdrawn when alice is gone");
        Assert.Contains(_logs.Lines, l => l.Contains("Peer alice disconnected: its 1 routes are withdrawn"));
        await Books.AssertConsistentAsync(_host.Accounting.Ledger);
    }

    [Fact]
    public async Task Malformed_updates_and_looping_routes_are_refused_with_a_log_line_and_the_connector_keeps_serving()
    {
        var garbage = new IlpPrepare
        {
            Amount = 0, Destination = Ccp.UpdateDestination, ExecutionCondition = Ildcp.Condition,
            ExpiresAt = DateTimeOffset.UtcNow.AddSeconds(30), Data = new byte[] { 1, 2, 3, 4, 5 },
        };
        var refused = Assert.IsType<IlpReject>(await _alice.SendAsync(garbage));
        Assert.Equal(IlpErrorCode.F01_InvalidPacket, refused.Code);
        Assert.Contains(_logs.Lines, l => l.Contains("Malformed peer.route.update from peer alice: route update header: truncated"));

        var heartbeat = Ccp.UpdatePrepare(new CcpRouteUpdate(Guid.NewGuid(), 0, 0, 0, 1000, "g.alice", [], []), DateTimeOffset.UtcNow);
        var wrongCondition = new IlpPrepare { Amount = 0, Destination = heartbeat.Destination, ExecutionCondition = new byte[32], ExpiresAt = heartbeat.ExpiresAt, Data = heartbeat.Data };
        Assert.Equal(IlpErrorCode.F01_InvalidPacket, Assert.IsType<IlpReject>(await _alice.SendAsync(wrongCondition)).Code);

        // Our own address in the path: the route would loop through us, so it is dropped (the update itself is fine).
        Assert.IsType<IlpFulfill>(await _alice.SendAsync(Update(0, 1, new CcpRoute("g.loop", ["g.alice", "g.conn", "g.x"], new byte[32], []))));
        Assert.Null(_host.Routes.Lookup("g.loop.a"));
        Assert.Contains(_logs.Lines, l => l.Contains("Route from peer alice dropped: route g.loop loops"));

        // Outside our allocation scheme (we are g.*): dropped too.
        Assert.IsType<IlpFulfill>(await _alice.SendAsync(Update(1, 2, new CcpRoute("test.other", ["g.alice"], new byte[32], []))));
        Assert.Null(_host.Routes.Lookup("test.other.a"));

        Assert.IsType<IlpFulfill>(await _bob.SendAsync(TestPeer.Payment("g.alice.ok", amount: 5)));
    }

    [Fact]
    public async Task A_flood_of_updates_from_one_peer_is_cut_to_its_rate_with_T05_and_one_log_line()
    {
        var table = Guid.NewGuid();
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        var replies = await Task.WhenAll(Enumerable.Range(0, 300).Select(i =>
            _alice.SendAsync(Ccp.UpdatePrepare(new CcpRouteUpdate(table, (uint)i, (uint)i, (uint)i, 30_000, "g.alice", [], []), DateTimeOffset.UtcNow))));
        double seconds = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds;

        // A burst of 100 plus 20/s refilled while the flood lasted get through, the rest are refused. The refill is
        // bounded by the time measured around the whole flood (not a fixed 2.5 s, which a loaded machine can exceed).
        int limited = replies.Count(r => r is IlpReject { Code: IlpErrorCode.T05_RateLimited });
        Assert.InRange(limited, Math.Max(1, 300 - 100 - (int)Math.Ceiling(seconds * 20)), 200);
        Assert.Single(_logs.Lines, l => l.Contains("Route updates from peer alice arrive faster than 20/s"));
        // Bob's updates and payments are not affected.
        Assert.IsType<IlpFulfill>(await _bob.SendAsync(Ccp.UpdatePrepare(new CcpRouteUpdate(Guid.NewGuid(), 0, 0, 0, 30_000, "g.bob", [], []), DateTimeOffset.UtcNow)));
        Assert.IsType<IlpFulfill>(await _bob.SendAsync(TestPeer.Payment("g.alice.ok", amount: 5)));
    }

    private static IlpPrepare Update(uint from, uint to, params CcpRoute[] routes) =>
        Ccp.UpdatePrepare(new CcpRouteUpdate(StaticTable, to, from, to, 30_000, "g.alice", routes, []), DateTimeOffset.UtcNow);

    private static readonly Guid StaticTable = Guid.NewGuid();

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException(what);
            await Task.Delay(20);
        }
    }
}

/// <summary>Collects formatted log lines.</summary>
internal sealed class LogLines : ILoggerProvider, ILogger
{
    private readonly ConcurrentQueue<string> _lines = new();
    public IReadOnlyList<string> Lines => [.. _lines];
    public ILogger CreateLogger(string categoryName) => this;
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _lines.Enqueue(formatter(state, exception) + (exception is null ? "" : " " + exception));
    public void Dispose()
    {
    }
}
