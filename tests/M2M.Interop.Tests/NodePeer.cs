using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace M2M.Interop.Tests;

/// <summary>
/// One tests/interop peer script (<c>node script args</c>) as a child process. Its stdout is one JSON event per line;
/// they are collected in order and tests wait for them with a timeout. Stdin stays open (EOF makes the script exit).
/// DisposeAsync closes stdin, gives the script a moment for an orderly exit, then kills the process tree.
/// </summary>
internal sealed class NodePeer : IAsyncDisposable
{
    /// <summary>Default wait for one event. The scripts themselves are capped by --timeout-ms.</summary>
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(15);

    /// <summary>The scripts' own hard cap; later than any test wait, so a stuck test fails on its wait first.</summary>
    public const int ScriptTimeoutMs = 25_000;

    private readonly Process _process;
    private readonly string _name;
    private readonly object _gate = new();
    private readonly List<JsonElement> _events = [];
    private readonly List<(Func<IReadOnlyList<JsonElement>, bool> Condition, TaskCompletionSource Done)> _waiters = [];
    private readonly StringBuilder _stderr = new();
    private readonly Task _stdoutPump;
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;

    private NodePeer(string name, Process process)
    {
        _name = name;
        _process = process;
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_stderr)
            {
                if (_stderr.Length < 64 * 1024) _stderr.AppendLine(e.Data);
            }
        };
        _process.BeginErrorReadLine();
        _stdoutPump = Task.Run(PumpStdoutAsync);
    }

    /// <summary>Starts <c>node tests/interop/&lt;script&gt; args --timeout-ms ScriptTimeoutMs</c>.</summary>
    public static NodePeer Start(string name, string script, params string[] args)
    {
        var psi = new ProcessStartInfo("node")
        {
            WorkingDirectory = InteropEnvironment.Directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        psi.ArgumentList.Add(InteropEnvironment.Script(script));
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (!args.Contains("--timeout-ms"))
        {
            psi.ArgumentList.Add("--timeout-ms");
            psi.ArgumentList.Add(ScriptTimeoutMs.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException("Process.Start returned null");
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException("cannot start `node` (Node.js must be on PATH for the interop tests): " + e.Message, e);
        }
        return new NodePeer(name, process);
    }

    /// <summary>btp-client-peer.js connecting to our connector as <paramref name="user"/>.</summary>
    public static NodePeer Client(string name, int port, string user, string token, params string[] args) =>
        Start(name, "btp-client-peer.js", ["--url", $"btp+ws://{user}:{token}@127.0.0.1:{port}", .. args]);

    public int Id => _process.Id;

    public IReadOnlyList<JsonElement> Events
    {
        get
        {
            lock (_gate) return [.. _events];
        }
    }

    public IReadOnlyList<JsonElement> EventsNamed(string name) => Events.Where(e => Is(e, name)).ToList();

    public string Stderr
    {
        get
        {
            lock (_stderr) return _stderr.ToString();
        }
    }

    /// <summary>The first event called <paramref name="name"/> (already seen or still to come).</summary>
    public async Task<JsonElement> WaitForAsync(string name, TimeSpan? timeout = null)
    {
        await WaitUntilAsync(events => events.Any(e => Is(e, name)), $"event '{name}'", timeout);
        return EventsNamed(name)[0];
    }

    /// <summary>Waits until at least <paramref name="count"/> events called <paramref name="name"/> arrived.</summary>
    public async Task<IReadOnlyList<JsonElement>> WaitForCountAsync(string name, int count, TimeSpan? timeout = null)
    {
        await WaitUntilAsync(events => events.Count(e => Is(e, name)) >= count, $"{count} '{name}' events", timeout);
        return EventsNamed(name);
    }

    /// <summary>Waits for the process to exit and returns its exit code (the script's last event says why).</summary>
    public async Task<int> WaitForExitAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultWait);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{_name} did not exit within {(timeout ?? DefaultWait).TotalSeconds:F0} s{Diagnostics()}");
        }
        await _stdoutPump.WaitAsync(TimeSpan.FromSeconds(5));
        return _process.ExitCode;
    }

    /// <summary>Sends a line command (<c>go</c>, <c>quit</c>) on stdin.</summary>
    public async Task SendLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    public async Task WaitUntilAsync(Func<IReadOnlyList<JsonElement>, bool> condition, string description, TimeSpan? timeout = null)
    {
        var wait = timeout ?? DefaultWait;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (condition(_events)) return;
            _waiters.Add((condition, done));
        }
        var finished = await Task.WhenAny(done.Task, _stdoutClosed.Task, Task.Delay(wait));
        lock (_gate)
        {
            _waiters.RemoveAll(w => w.Done == done);
            if (done.Task.IsCompleted || condition(_events)) return;
        }
        string why = finished == _stdoutClosed.Task ? "the process ended first" : $"timed out after {wait.TotalSeconds:F0} s";
        throw new TimeoutException($"{_name}: waiting for {description}: {why}{Diagnostics()}");
    }

    private async Task PumpStdoutAsync()
    {
        try
        {
            while (await _process.StandardOutput.ReadLineAsync() is { } line)
            {
                if (line.Length == 0) continue;
                JsonElement element;
                try
                {
                    using var doc = JsonDocument.Parse(line);
                    element = doc.RootElement.Clone();
                }
                catch (JsonException)
                {
                    element = JsonSerializer.SerializeToElement(new { @event = "non-json-stdout", line });
                }
                lock (_gate)
                {
                    _events.Add(element);
                    foreach (var w in _waiters.Where(w => w.Condition(_events)).ToList())
                    {
                        w.Done.TrySetResult();
                        _waiters.Remove(w);
                    }
                }
            }
        }
        catch (Exception) when (Volatile.Read(ref _disposed) != 0)
        {
            // process killed while reading
        }
        finally
        {
            _stdoutClosed.TrySetResult();
        }
    }

    public static bool Is(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("event", out var ev) && ev.ValueKind == JsonValueKind.String && ev.GetString() == name;

    /// <summary>What a failure message should show: the exit code, the last events and stderr.</summary>
    public string Diagnostics()
    {
        var sb = new StringBuilder();
        sb.Append('\n').Append(_name).Append(" (pid ").Append(_process.Id).Append(')');
        if (_process.HasExited) sb.Append(" exited with code ").Append(_process.ExitCode);
        var events = Events;
        sb.Append("\n  last events (").Append(events.Count).Append(" in all):");
        foreach (var e in events.TakeLast(15)) sb.Append("\n    ").Append(e.GetRawText());
        var err = Stderr;
        if (err.Length > 0) sb.Append("\n  stderr:\n").Append(err.Length > 4000 ? "…" + err[^4000..] : err);
        return sb.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            if (!_process.HasExited)
            {
                try
                {
                    _process.StandardInput.Close(); // EOF => orderly exit (the script disconnects its plugin)
                }
                catch (IOException)
                {
                }
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                try
                {
                    await _process.WaitForExitAsync(grace.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        }
        finally
        {
            try
            {
                if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // already gone
            }
            try
            {
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
                await _stdoutPump.WaitAsync(TimeSpan.FromSeconds(2));
            }
            catch (TimeoutException)
            {
            }
            _process.Dispose();
        }
    }
}
