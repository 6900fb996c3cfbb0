using Xunit;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace M2M.TestKit;

/// <summary>
/// Starts a real, throwaway PostgreSQL server for the test run: initdb into a temp dir, pg_ctl
/// start on 127.0.0.1 with a free port (socket in the temp dir, fsync and synchronous_commit on),
/// pg_ctl stop -m fast and delete the dir on dispose. PostgreSQL refuses to run as root, so as
/// root the binaries run through `runuser -u postgres --` (the Debian package creates that user).
/// Missing binaries make every test using it fail with an explicit message, never a silent skip.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    public const string MissingBinaries = "PostgreSQL server binaries not found: install the Debian package postgresql";

    private string? _bin;
    private bool _asRoot;
    private Exception? _startError;

    public string Dir { get; private set; } = "";
    public int Port { get; private set; }

    /// <summary>Connection string to the maintenance database "postgres".</summary>
    public string AdminConnectionString
    {
        get
        {
            if (_startError is not null) throw new InvalidOperationException(_startError.Message, _startError);
            return ConnectionString("postgres");
        }
    }

    public string ConnectionString(string database) =>
        $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database};Pooling=true;Include Error Detail=true";

    public async Task InitializeAsync()
    {
        try
        {
            await StartNewAsync();
        }
        catch (Exception e)
        {
            _startError = e;
        }
    }

    public async Task DisposeAsync()
    {
        if (_bin is null || Dir.Length == 0) return;
        try { await StopAsync("fast"); } catch { /* best effort */ }
        try { Directory.Delete(Dir, recursive: true); } catch { /* best effort */ }
    }

    /// <summary>A fresh, empty database on this server.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "t_" + Guid.NewGuid().ToString("N");
        await using var conn = new NpgsqlConnection(AdminConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", conn);
        await cmd.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    private async Task StartNewAsync()
    {
        _bin = FindBinaries() ?? throw new InvalidOperationException(MissingBinaries);
        _asRoot = (await RunAsync("id", ["-u"], asPostgres: false)).Trim() == "0";
        var root = _asRoot ? "/tmp" : Path.GetTempPath();
        Dir = Path.Combine(root, "m2m-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Dir);
        if (_asRoot) await RunAsync("chown", ["-R", "postgres", Dir], asPostgres: false);
        await RunAsync(Path.Combine(_bin, "initdb"), ["-D", DataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"], asPostgres: true);
        Port = FreePort();
        await StartAsync();
    }

    private string DataDir => Path.Combine(Dir, "data");

    /// <summary>Starts (or restarts) the server on the same data dir and port; waits until it accepts connections.</summary>
    public async Task StartAsync()
    {
        var options = $"-c listen_addresses=127.0.0.1 -p {Port} -k {Dir} -c fsync=on -c synchronous_commit=on -c max_connections=300";
        await RunAsync(Path.Combine(_bin!, "pg_ctl"), ["-D", DataDir, "-l", Path.Combine(Dir, "server.log"), "-w", "-t", "30", "-o", options, "start"], asPostgres: true);
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await using var conn = new NpgsqlConnection(ConnectionString("postgres") + ";Pooling=false;Timeout=2");
                await conn.OpenAsync();
                return;
            }
            catch when (deadline.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>pg_ctl stop with the given mode ("fast", "immediate").</summary>
    public Task StopAsync(string mode) =>
        RunAsync(Path.Combine(_bin!, "pg_ctl"), ["-D", DataDir, "-m", mode, "-w", "-t", "30", "stop"], asPostgres: true);

    private static string? FindBinaries()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            if (File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl")))
                return dir;
        const string debian = "/usr/lib/postgresql";
        if (!Directory.Exists(debian)) return null;
        return Directory.GetDirectories(debian)
            .Select(d => (Dir: Path.Combine(d, "bin"), Version: int.TryParse(Path.GetFileName(d), out var v) ? v : 0))
            .Where(x => File.Exists(Path.Combine(x.Dir, "initdb")) && File.Exists(Path.Combine(x.Dir, "pg_ctl")))
            .OrderByDescending(x => x.Version)
            .Select(x => x.Dir)
            .FirstOrDefault();
    }

    private static int FreePort() => LoopbackPort.Free();

    private async Task<string> RunAsync(string file, string[] args, bool asPostgres)
    {
        var psi = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (asPostgres && _asRoot)
        {
            psi.FileName = "runuser";
            foreach (var a in new[] { "-u", "postgres", "--", file }) psi.ArgumentList.Add(a);
        }
        else psi.FileName = file;
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        // pg_ctl start leaves the server holding inherited pipes; read only until the launcher exits.
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(timeout.Token);
        if (p.ExitCode != 0)
        {
            var err = await Task.WhenAny(stderr, Task.Delay(500)) == stderr ? stderr.Result : "";
            var log = File.Exists(Path.Combine(Dir, "server.log")) ? File.ReadAllText(Path.Combine(Dir, "server.log")) : "";
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited with {p.ExitCode}: {err}\n{log}");
        }
        return await Task.WhenAny(stdout, Task.Delay(500)) == stdout ? stdout.Result : "";
    }
}
