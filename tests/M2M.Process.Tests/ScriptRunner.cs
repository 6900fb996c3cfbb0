using System.Diagnostics;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>Runs a repository script (scripts/*.sh) with bash, as an operator would.</summary>
internal static class ScriptRunner
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "m2m-connector.dll");

    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string script, string cwd, IDictionary<string, string> env, params string[] args)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = cwd };
        info.ArgumentList.Add(Path.Combine(CliProcess.RepoRoot(), "scripts", script));
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var name in new[] { "CONFIG_FILE", "BTP_SERVER_PORT", "BTP_PORT", "HEALTH_CHECK_PORT", "LEDGER_PATH", "DEPLOY_MODE", "IMAGE_NAME", "IMAGE_TAG" })
            info.Environment.Remove(name);
        foreach (var (k, v) in env) info.Environment[k] = v;
        return await CliProcess.RunToEndAsync(info, TimeSpan.FromSeconds(120));
    }

    /// <summary>SIGTERM to a process the test started (through a script) and wait for it to exit.</summary>
    public static async Task StopPidAsync(int pid)
    {
        System.Diagnostics.Process p;
        try { p = System.Diagnostics.Process.GetProcessById(pid); } catch (ArgumentException) { return; }
        using (p)
        {
            p.Kill(entireProcessTree: false);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await p.WaitForExitAsync(cts.Token);
        }
    }
}
