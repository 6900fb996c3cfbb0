using System.Diagnostics;
using Xunit.Abstractions;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>
/// Issue 13, defect 6: a ledger the process may not write must not report ready and then answer
/// T00 to every packet. The connector runs as root here (as in CI), which ignores file modes, so it
/// is started through util-linux `setpriv` without CAP_DAC_OVERRIDE: exactly what a non-root
/// operator whose files are read-only gets.
/// </summary>
[Collection("data")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class ReadOnlyLedgerTests(ITestOutputHelper output)
{
    [Theory]
    [Trait("Tier", "process")]
    [InlineData("file", "the file is not writable")]
    [InlineData("directory", "the directory is not writable")]
    public async Task A_read_only_ledger_refuses_to_start_with_one_clear_line_and_never_reports_ready(string what, string expected)
    {
        using var node = new DataTestNode("readonly");
        await DataTestNode.StopAsync(await node.StartAsync()); // a ledger that has served: schema and accounts exist
        string dataDir = Path.GetDirectoryName(node.LedgerPath)!;
        foreach (var side in new[] { "-wal", "-shm" }) File.Delete(node.LedgerPath + side);
        if (what == "file") File.SetUnixFileMode(node.LedgerPath, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        else File.SetUnixFileMode(dataDir, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        string sha = M2M.Migrations.SqliteFiles.Sha256(node.LedgerPath);
        try
        {
            var watch = Stopwatch.StartNew();
            var (code, stdout, stderr) = await RunWithoutDacOverride(node, TimeSpan.FromSeconds(30));
            output.WriteLine($"read-only {what}: exit {code} after {watch.Elapsed.TotalSeconds:F1} s: {stderr.Trim()}");
            LedgerOwnershipTests.OneErrorLine(code, stderr, expected);
            Assert.DoesNotContain("started:", stdout); // never listened, so never ready
            Assert.Equal(sha, M2M.Migrations.SqliteFiles.Sha256(node.LedgerPath));
        }
        finally
        {
            File.SetUnixFileMode(dataDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    /// <summary>Runs the connector to its exit; one that starts and keeps running (the old behaviour) fails the test at the timeout.</summary>
    private static async Task<(int Code, string Stdout, string Stderr)> RunWithoutDacOverride(DataTestNode node, TimeSpan timeout)
    {
        Assert.True(File.Exists("/usr/bin/setpriv"), "util-linux setpriv is required to run the connector without CAP_DAC_OVERRIDE (apt-get install util-linux)");
        var info = new ProcessStartInfo("/usr/bin/setpriv") { WorkingDirectory = node.Dir };
        foreach (var a in new[] { "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search", "--",
            "dotnet", Path.Combine(AppContext.BaseDirectory, "m2m-connector.dll"), "run", "--config", node.Config })
            info.ArgumentList.Add(a);
        foreach (var (k, v) in node.Env) info.Environment[k] = v;
        return await CliProcess.RunToEndAsync(info, timeout);
    }
}
