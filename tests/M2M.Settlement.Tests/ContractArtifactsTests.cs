using System.Diagnostics;
using M2M.TestKit;

namespace M2M.Settlement.Tests;

/// <summary>
/// The compiled contracts embedded in the code (ChannelContractArtifacts, TokenChannelContractArtifacts,
/// TestTokenArtifacts) and contracts/build are what the pinned solc makes of the sources today.
/// </summary>
[Trait("Tier", "interop")]
public sealed class ContractArtifactsTests
{
    [Fact(Timeout = 300_000)]
    public async Task Committed_artifacts_match_a_fresh_compile_of_every_contract()
    {
        string evm = Path.Combine(RepoPaths.Root, "tests", "evm");
        Assert.True(File.Exists(Path.Combine(evm, "node_modules", "solc", "package.json")), $"solc is not installed: run `npm ci` in {evm}");
        var psi = new ProcessStartInfo("node") { WorkingDirectory = evm, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("compile.js");
        psi.ArgumentList.Add("--check");
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            ChildProcess.Kill(process);
            throw;
        }
        Assert.True(process.ExitCode == 0, $"compile.js --check exited {process.ExitCode}: {await stderr}");
        Assert.Contains("contract artifacts are up to date", await stdout, StringComparison.Ordinal);
    }
}
