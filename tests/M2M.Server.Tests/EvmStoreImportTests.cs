using System.Numerics;
using M2M.Server.Accounting;
using M2M.Ledger.Postgres;
using M2M.Server.Configuration;
using M2M.Settlement.Evm;
using M2M.TestKit;
using Microsoft.Data.Sqlite;

namespace M2M.Server.Tests;

/// <summary>
/// Issue 15: the 2.0 per-process evm-channels.db and evm-claims.db are imported into the settlement store
/// (settlements.db, or the PostgreSQL ledger database) on first start: rows copied once, the files renamed
/// *.imported, one log line with the counts; a second start imports nothing. Real SQLite files, real PostgreSQL.
/// </summary>
[Trait("Tier", "integration")]
public sealed class EvmStoreImportTests(PostgresServer postgres) : IClassFixture<PostgresServer>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("m2m-evm-import-").FullName;

    [Fact]
    public void Files_from_2_0_are_imported_into_settlements_db_once() => ImportsOnce(Settings(LedgerBackend.Sqlite, null));

    /// <summary>
    /// PostgreSQL: the data directory is ./data of the working directory (shared with other tests here), so the
    /// store's import is called on files in this test's directory; the renaming and the log line are the same code.
    /// </summary>
    [Fact]
    public async Task Files_from_2_0_are_imported_into_the_postgres_ledger_database_once()
    {
        string url = await postgres.CreateDatabaseAsync();
        string channels = Path.Combine(_dir, "evm-channels.db"), claims = Path.Combine(_dir, "evm-claims.db");
        Legacy(channels, LegacyChannels);
        Legacy(claims, LegacyClaims);
        for (int start = 1; start <= 2; start++)
        {
            using var payer = EvmChannelStore.OpenPostgres(PostgresConnectionString.CreateDataSource(PostgresConnectionString.Parse(url), 2, 10, "m2m-settlement-evm"));
            using var receiver = EvmClaimStore.OpenPostgres(PostgresConnectionString.CreateDataSource(PostgresConnectionString.Parse(url), 2, 10, "m2m-settlement-evm"));
            var imported = (payer.ImportFile(channels), receiver.ImportFile(claims));
            // The second import finds every row present: nothing copied, nothing changed.
            Assert.Equal(start == 1 ? (new EvmImport(2, 2, 0), new EvmImport(0, 1, 0)) : (new EvmImport(0, 0, 0), new EvmImport(0, 0, 1)), imported);
            Assert.Equal(("0xaa", new BigInteger(3000)), payer.Channel("bob"));
            Assert.Equal(new BigInteger(3000), payer.ClaimFor(Guid.Parse("6f1c0d4e-0000-4000-8000-000000000002"))!.CumulativeWei);
            Assert.Equal(BigInteger.Parse("123456789012345678901"), receiver.Latest("dave", "0xdd")!.CumulativeWei);
            Assert.Equal((2, 1), (payer.ChannelCount(), receiver.ChannelCount()));
        }
    }

    /// <summary>LEDGER_POSTGRES_URL in the URL form (as hosting providers print it) opens the settlement store too, not only the ledger.</summary>
    [Fact]
    public async Task The_settlement_store_opens_from_a_postgres_url()
    {
        string database = new Npgsql.NpgsqlConnectionStringBuilder(await postgres.CreateDatabaseAsync()).Database!;
        string url = $"postgres://postgres@127.0.0.1:{postgres.Port}/{database}";
        using var store = ConnectorSettlement.OpenStore(Settings(LedgerBackend.Postgres, url), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Assert.Empty(store.List());
    }

    private const string LegacyChannels = """
        CREATE TABLE channels (peer_id TEXT PRIMARY KEY, channel_id TEXT NOT NULL, cumulative_wei TEXT NOT NULL);
        CREATE TABLE settlement_claims (settlement_id TEXT PRIMARY KEY, peer_id TEXT NOT NULL, channel_id TEXT NOT NULL, cumulative_wei TEXT NOT NULL, signature TEXT NOT NULL);
        INSERT INTO channels VALUES ('bob', '0xaa', '3000'), ('carol', '0xcc', '0');
        INSERT INTO settlement_claims VALUES ('6f1c0d4e-0000-4000-8000-000000000001', 'bob', '0xaa', '1000', '0xs1'), ('6f1c0d4e-0000-4000-8000-000000000002', 'bob', '0xaa', '3000', '0xs2');
        """;

    private const string LegacyClaims = """
        CREATE TABLE claims (peer_id TEXT NOT NULL, channel_id TEXT NOT NULL, cumulative_wei TEXT NOT NULL, signature TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (peer_id, channel_id));
        INSERT INTO claims VALUES ('dave', '0xdd', '123456789012345678901', '0xsig', 1700000000000);
        """;

    private void ImportsOnce(ConnectorSettings settings)
    {
        string channels = ConnectorSettlement.SiblingPath(settings, ConnectorSettlement.LegacyEvmChannelsFile);
        string claims = ConnectorSettlement.SiblingPath(settings, ConnectorSettlement.LegacyEvmClaimsFile);
        Directory.CreateDirectory(Path.GetDirectoryName(channels)!);
        Legacy(channels, LegacyChannels);
        Legacy(claims, LegacyClaims);
        var log = new ListLogger();

        using (var payer = ConnectorSettlement.OpenEvmChannelStore(settings, log))
        using (var receiver = ConnectorSettlement.OpenEvmClaimStore(settings, log))
        {
            Assert.Equal(("0xaa", new BigInteger(3000)), payer.Channel("bob"));
            Assert.Equal(("0xcc", BigInteger.Zero), payer.Channel("carol"));
            Assert.Equal(new BigInteger(3000), payer.ClaimFor(Guid.Parse("6f1c0d4e-0000-4000-8000-000000000002"))!.CumulativeWei);
            Assert.Equal(BigInteger.Parse("123456789012345678901"), receiver.Latest("dave", "0xdd")!.CumulativeWei);
            Assert.Equal((2, 1), (payer.ChannelCount(), receiver.ChannelCount()));
        }
        Assert.False(File.Exists(channels));
        Assert.False(File.Exists(claims));
        Assert.True(File.Exists(channels + ".imported") && File.Exists(claims + ".imported"));
        string backend = settings.Ledger.Backend == LedgerBackend.Postgres ? "postgres" : "sqlite";
        Assert.Single(log.Lines, l => l.Text.Contains($"evm-channels.db imported into the {backend} settlement store: 2 channels, 2 claims", StringComparison.Ordinal));
        Assert.Single(log.Lines, l => l.Text.Contains($"evm-claims.db imported into the {backend} settlement store: 0 channels, 1 claims", StringComparison.Ordinal));

        // Second start: nothing left to import, the state is unchanged. A stray copy of the old file put back
        // (a restore) imports again without changing anything: rows present are kept.
        File.Copy(channels + ".imported", channels);
        using (var payer = ConnectorSettlement.OpenEvmChannelStore(settings, log))
        using (var receiver = ConnectorSettlement.OpenEvmClaimStore(settings, log))
        {
            Assert.Equal(("0xaa", new BigInteger(3000)), payer.Channel("bob"));
            Assert.Equal((2, 1), (payer.ChannelCount(), receiver.ChannelCount()));
        }
        Assert.Single(log.Lines, l => l.Text.Contains("evm-channels.db imported into", StringComparison.Ordinal) && l.Text.Contains("0 channels, 0 claims", StringComparison.Ordinal));
        Assert.Single(log.Lines, l => l.Text.Contains("evm-claims.db imported", StringComparison.Ordinal));
    }

    private ConnectorSettings Settings(LedgerBackend backend, string? url) => TestConnector.TwoPeers() with
    {
        Ledger = new LedgerSettings { Backend = backend, Path = Path.Combine(_dir, "data", "ledger.db"), PostgresUrl = url },
    };

    private static void Legacy(string path, string sql)
    {
        using var c = new SqliteConnection($"Data Source={path};Pooling=False");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
