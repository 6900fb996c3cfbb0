using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

using Xunit;

namespace M2M.TestKit;

/// <summary>
/// Starts a local ganache EVM node (tests/evm, pinned in its package.json) as a child process on a free
/// 127.0.0.1 port with the deterministic wallet and chain id 1337, and kills it by its process id on dispose.
/// </summary>
public sealed class EvmNodeFixture : IAsyncLifetime
{
    public const int ChainId = 1337;

    /// <summary>ganache --wallet.deterministic accounts 0..3 (1000 ETH each): (private key, address).</summary>
    public static readonly (string Key, string Address)[] Accounts =
    [
        ("0x4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d", "0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1"),
        ("0x6cbed15c793ce57650b9877cf6fa156fbef513c4e6134f022a85b1ffdd59b2a1", "0xFFcf8FDEE72ac11b5c542428B35EEF5769C409f0"),
        ("0x6370fd033278c143179d81c5526140625662b8daa446c22ee2d73db3707e620c", "0x22d491Bde2303f2f43325b2108D26f1eAbA1e32b"),
        ("0x646f1ce2fdad0e6deeeb5c7e8e5543bdde65e86029e2fd9fc169899c440a7913", "0xE11BA2b4D45Eaed5996Cd0823791E0C93114882d"),
    ];

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly StringBuilder _output = new();
    private Process? _process;
    private int _rpcId;

    public string RpcUrl { get; private set; } = "";

    /// <summary>The node's process id (killed by this id on dispose).</summary>
    public int ProcessId => _process?.Id ?? 0;

    public async Task InitializeAsync()
    {
        var evmDir = LocateEvmDirectory();
        var cli = Path.Combine(evmDir, "node_modules", "ganache", "dist", "node", "cli.js");
        Exception? last = null;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var port = FreePort();
            try
            {
                await StartAsync(evmDir, cli, port).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (attempt < 2)
            {
                last = ex;
                KillNode(); // the port may have been taken between probing and binding: try another
            }
        }
        throw new InvalidOperationException("ganache did not start", last);
    }

    private async Task StartAsync(string evmDir, string cli, int port)
    {
        lock (_output) _output.Clear();
        var psi = new ProcessStartInfo("node")
        {
            WorkingDirectory = evmDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
                 {
                     cli, "--server.host", "127.0.0.1", "--server.port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                     "--wallet.deterministic", "--wallet.totalAccounts", "4", "--chain.chainId", ChainId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                     "--miner.instamine", "eager", "--logging.quiet",
                 })
            psi.ArgumentList.Add(arg);
        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start node");
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        RpcUrl = $"http://127.0.0.1:{port}";
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < StartTimeout)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"ganache exited with {process.ExitCode}: {Output}");
            try
            {
                var chainId = await RpcAsync("eth_chainId").ConfigureAwait(false);
                if (chainId.GetString() == "0x" + ChainId.ToString("x", System.Globalization.CultureInfo.InvariantCulture)) return;
                throw new InvalidOperationException($"unexpected chain id {chainId}");
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            await Task.Delay(200).ConfigureAwait(false);
        }
        throw new TimeoutException($"ganache did not answer eth_chainId on {RpcUrl} within {StartTimeout.TotalSeconds} s: {Output}");
    }

    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    /// <summary>A raw JSON-RPC call; returns "result" or throws with the node's error.</summary>
    public async Task<JsonElement> RpcAsync(string method, params object[] parameters)
    {
        var body = JsonSerializer.Serialize(new { jsonrpc = "2.0", id = Interlocked.Increment(ref _rpcId), method, @params = parameters });
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await _http.PostAsync(RpcUrl, content).ConfigureAwait(false);
        var json = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        using var doc = JsonDocument.Parse(json);
        if (doc.RootElement.TryGetProperty("error", out var error)) throw new InvalidOperationException($"{method}: {error}");
        return doc.RootElement.GetProperty("result").Clone();
    }

    /// <summary>Moves the chain clock forward and mines a block with the new time.</summary>
    public async Task AdvanceTimeAsync(int seconds)
    {
        await RpcAsync("evm_increaseTime", seconds).ConfigureAwait(false);
        await RpcAsync("evm_mine").ConfigureAwait(false);
    }

    public Task DisposeAsync()
    {
        KillNode();
        _http.Dispose();
        return Task.CompletedTask;
    }

    private void KillNode()
    {
        var process = _process;
        _process = null;
        if (process is null) return;
        try
        {
            ChildProcess.Kill(process);
        }
        finally
        {
            process.Dispose();
        }
    }

    private static int FreePort() => LoopbackPort.Free();

    private static string LocateEvmDirectory()
    {
        var evm = Path.Combine(RepoPaths.Root, "tests", "evm");
        if (!File.Exists(Path.Combine(evm, "package.json")))
            throw new InvalidOperationException($"{evm}/package.json not found");
        if (!File.Exists(Path.Combine(evm, "node_modules", "ganache", "dist", "node", "cli.js")))
            throw new InvalidOperationException($"ganache is not installed: run `npm ci` in tests/evm ({evm})");
        return evm;
    }
}
