using M2M.Server.Configuration;

namespace M2M.Server.Tests;

/// <summary>Issue 18 (cold start): STARTUP_WARMUP_PACKETS is read by the config loader, bounded, 10,000 unless set, 0 turns it off.</summary>
[Trait("Tier", "unit")]
public sealed class StartupWarmupConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("m2m-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private ConnectorSettings Load(Dictionary<string, string> env)
    {
        string path = Path.Combine(_dir, "c.yaml");
        File.WriteAllText(path, "nodeId: conn\n");
        return new ConfigLoader(name => env.GetValueOrDefault(name)).Load(path);
    }

    [Fact]
    public void The_default_is_on_and_zero_turns_it_off()
    {
        Assert.Equal(20_000, Load([]).StartupWarmupPackets);
        Assert.Equal(0, Load(new() { ["STARTUP_WARMUP_PACKETS"] = "0" }).StartupWarmupPackets);
        Assert.Equal(2500, Load(new() { ["STARTUP_WARMUP_PACKETS"] = "2500" }).StartupWarmupPackets);
    }

    [Theory]
    [InlineData("lots")]
    [InlineData("-1")]
    [InlineData("1000001")]
    public void A_bad_count_is_one_clear_error(string value)
    {
        var errors = Assert.Throws<ConfigException>(() => Load(new() { ["STARTUP_WARMUP_PACKETS"] = value })).Errors;
        string error = Assert.Single(errors);
        Assert.Contains("STARTUP_WARMUP_PACKETS", error);
        Assert.Contains("a whole number from 0 to 1000000", error);
    }
}

/// <summary>
/// Issue 18 (cold start): the warm-up drives real packets through a throwaway loopback connector (Kestrel, BTP,
/// the switch, a SQLite ledger), fulfills them, and leaves nothing behind: its directory is deleted and the
/// real connector's ledger path is never created.
/// </summary>
[Trait("Tier", "integration")]
public sealed class StartupWarmupTests
{
    [Fact]
    public async Task The_warm_up_fulfills_its_packets_and_touches_neither_the_real_books_nor_its_own_files_afterwards()
    {
        var realDir = Path.Combine(Path.GetTempPath(), $"m2m-real-{Guid.NewGuid():N}");
        var real = TestConnector.TwoPeers() with { Ledger = new LedgerSettings { Backend = LedgerBackend.Sqlite, Path = Path.Combine(realDir, "ledger.db") } };

        var report = await StartupWarmup.RunAsync(real, 500, TimeSpan.FromSeconds(120), CancellationToken.None);

        Assert.Equal(500, report.Sent);
        Assert.Equal(500, report.Fulfilled);
        Assert.False(report.HitTimeCap);
        Assert.False(Directory.Exists(report.DataDirectory), $"{report.DataDirectory} was left behind");
        Assert.False(Directory.Exists(realDir), "the warm-up touched the real ledger's directory");
    }

    [Fact]
    public async Task The_time_cap_stops_the_warm_up_early()
    {
        var report = await StartupWarmup.RunAsync(TestConnector.TwoPeers(), 1_000_000, TimeSpan.FromSeconds(3), CancellationToken.None);

        Assert.True(report.HitTimeCap);
        Assert.InRange(report.Sent, 1, 999_999);
        Assert.Equal(report.Sent, report.Fulfilled);
        Assert.False(Directory.Exists(report.DataDirectory));
    }
}
