using System.Text.Json;
using Xunit;

namespace M2M.Cli.Tests;

/// <summary>What the shipped executable's runtimeconfig.json tells the .NET runtime (issue 18: JIT tiering).</summary>
public class RuntimeConfigTests
{
    [Fact]
    [Trait("Tier", "unit")]
    public void The_connector_tiers_hot_methods_up_at_once_and_its_idle_workers_do_not_spin()
    {
        // The file `dotnet m2m-connector.dll` reads, copied beside this test's output from src/M2M.Cli's build.
        string path = Path.Combine(AppContext.BaseDirectory, "m2m-connector.runtimeconfig.json");
        Assert.True(File.Exists(path), $"{path} is missing");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var props = doc.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");
        Assert.True(props.TryGetProperty("System.Runtime.TieredCompilation.CallCountingDelayMs", out var delay),
            "System.Runtime.TieredCompilation.CallCountingDelayMs is not set: hot methods wait 100 ms with no new tier-0 method before tiering up");
        Assert.Equal(0, delay.GetInt32());
        Assert.True(props.TryGetProperty("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit", out var spin),
            "System.Threading.ThreadPool.UnfairSemaphoreSpinLimit is not set: idle workers spin before they sleep");
        Assert.Equal(0, spin.GetInt32());
    }
}
