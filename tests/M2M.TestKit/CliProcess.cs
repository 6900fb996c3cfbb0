using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Xunit;

namespace M2M.TestKit;

/// <summary>
/// The m2m-connector executable started as a child process; killed on dispose if still running. It runs
/// m2m-connector.dll from the calling test project's output, so that project references src/M2M.Cli.
/// </summary>
public sealed class CliProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private CliProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_stdout) _stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }
    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }
    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;

    public static CliProcess Start(IDictionary<string, string>? env, params string[] args) => StartIn(Path.GetTempPath(), env, args);

    /// <summary>Starts in <paramref name="workingDirectory"/>: with a PostgreSQL ledger the node's data directory is ./data there.</summary>
    public static CliProcess StartIn(string workingDirectory, IDictionary<string, string>? env, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "m2m-connector.dll"));
        foreach (var a in args) info.ArgumentList.Add(a);
        // A clean slate: nothing from the developer's shell leaks into the connector under test.
        foreach (var name in new[] { "CONFIG_FILE", "NODE_ID", "BTP_SERVER_PORT", "BTP_PORT", "HEALTH_CHECK_PORT", "LOG_LEVEL", "LOG_FORMAT", "ENVIRONMENT", "LEDGER_BACKEND", "LEDGER_PATH", "ADMIN_API_TOKEN", "M2M_CRASHPOINT", "M2M_PAUSEPOINT" })
            info.Environment.Remove(name);
        // Each process gets its own ledger file unless the test names one.
        info.Environment["LEDGER_PATH"] = Path.Combine(Path.GetTempPath(), "m2m-cli-tests", Guid.NewGuid().ToString("N"), "ledger.db");
        // No start-up warm-up (seconds per start under load) unless the test asks for one.
        info.Environment["STARTUP_WARMUP_PACKETS"] = "0";
        NoExplorerPort(info);
        if (env is not null) foreach (var (k, v) in env) info.Environment[k] = v;
        return new CliProcess(Process.Start(info)!);
    }

    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(IDictionary<string, string>? env, params string[] args)
    {
        using var p = Start(env, args);
        int code = await p.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return (code, p.Stdout, p.Stderr);
    }

    /// <summary>Runs any program (a script, the load generator) to its end within the timeout; returns exit code and output.</summary>
    public static async Task<(int Code, string Stdout, string Stderr)> RunToEndAsync(ProcessStartInfo info, TimeSpan timeout)
    {
        NoExplorerPort(info);
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        _process.WaitForExit(); // flush the async output readers
        return _process.ExitCode;
    }

    /// <summary>Waits until stderr contains <paramref name="text"/> (e.g. "paused at …"), or fails.</summary>
    public async Task WaitForStderr(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Stderr.Contains(text, StringComparison.Ordinal) && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Contains(text, Stderr);
    }

    public void Signal(int signal) => Assert.Equal(0, SysKill(_process.Id, signal));

    public const int SIGTERM = 15;
    public const int SIGKILL = 9;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SysKill(int pid, int sig);

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }

    public static int FreePort() => LoopbackPort.Free();

    /// <summary>
    /// EXPLORER_PORT=off unless the test (or its caller) chose one: the Explorer stays under /explorer on the
    /// HTTP port instead of every connector a test starts (scripts included: they inherit it) trying port
    /// 3001 and warning "in use" whenever another test's connector has it.
    /// </summary>
    public static void NoExplorerPort(ProcessStartInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        if (!info.Environment.ContainsKey("EXPLORER_PORT")) info.Environment["EXPLORER_PORT"] = "off";
    }

    public static string RepoRoot() => RepoPaths.Root;

    /// <summary>
    /// Waits until the connector answers 2xx (60 s unless told); a refused or slow answer (restart recovery on a
    /// loaded machine) is retried. The one copy: every test that starts the executable waits with it.
    /// </summary>
    public static async Task WaitForHealth(string url, CliProcess connector, TimeSpan? timeout = null)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (DateTime.UtcNow < deadline)
        {
            // An exited connector will not answer: say why now rather than at the deadline.
            if (connector.HasExited) throw new InvalidOperationException($"connector exited before answering {url}; stdout: {connector.Stdout} stderr: {connector.Stderr}");
            try
            {
                using var response = await http.GetAsync(url);
                if (response.IsSuccessStatusCode) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // not listening yet, or too slow to answer on a loaded machine: ask again
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"connector did not answer {url}; stdout: {connector.Stdout} stderr: {connector.Stderr}");
    }

    /// <summary>As <see cref="WaitForHealth(string, CliProcess, TimeSpan?)"/> on http://127.0.0.1:<paramref name="port"/>/health.</summary>
    public static Task WaitForHealth(int port, CliProcess connector, TimeSpan? timeout = null) =>
        WaitForHealth($"http://127.0.0.1:{port}/health", connector, timeout);
}
