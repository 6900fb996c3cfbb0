using System.Buffers;
using System.Security.Cryptography;
using M2M.TestKit;
using M2M.Core.Ilp;
using M2M.Server;
using M2M.Server.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Server.Tests;

/// <summary>A connector on 127.0.0.1 with ephemeral ports, torn down by the test.</summary>
internal static class TestConnector
{
    public static async Task<ConnectorHost> StartAsync(ConnectorSettings settings)
    {
        var host = await ConnectorHost.CreateAsync(WithTempLedger(settings) with { BindAddress = "127.0.0.1", BtpServerPort = 0, HealthCheckPort = 0 }, NullLoggerFactory.Instance);
        await host.StartAsync(CancellationToken.None);
        return host;
    }

    /// <summary>A real SQLite ledger file of its own, unless the test chose a path.</summary>
    public static ConnectorSettings WithTempLedger(ConnectorSettings settings) =>
        settings.Ledger.Path != new LedgerSettings().Path ? settings
            : settings with { Ledger = settings.Ledger with { Path = Path.Combine(Path.GetTempPath(), "m2m-tests", Guid.NewGuid().ToString("N"), "ledger.db") } };

    /// <summary>Alice and Bob connect in; each has a route to its own prefix.</summary>
    public static ConnectorSettings TwoPeers(ulong? aliceMax = null) => new()
    {
        NodeId = "conn",
        IlpAddress = "g.conn",
        Peers =
        [
            new PeerSettings { Id = "alice", AuthToken = "alice-secret", MaxPacketAmount = aliceMax },
            new PeerSettings { Id = "bob", AuthToken = "bob-secret" },
        ],
        Routes = [new("g.alice", "alice"), new("g.bob", "bob")],
    };
}

