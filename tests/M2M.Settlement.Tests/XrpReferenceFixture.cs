using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace M2M.Settlement.Tests;

/// <summary>
/// Runs the reference scripts in tests/xrp (ripple-keypairs 3.1.0 and ripple-binary-codec 2.11.0, pinned in its
/// package.json) with node, one child process per call, each bounded by a timeout and killed by its own id on
/// timeout or when the fixture is disposed.
/// </summary>
public sealed class XrpReferenceFixture : IDisposable
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);
    private readonly ConcurrentDictionary<int, Process> _running = new();

    public XrpReferenceFixture()
    {
        Directory = LocateXrpDirectory();
        if (!System.IO.Directory.Exists(Path.Combine(Directory, "node_modules", "ripple-keypairs"))
            || !System.IO.Directory.Exists(Path.Combine(Directory, "node_modules", "ripple-binary-codec")))
            throw new InvalidOperationException($"ripple-keypairs / ripple-binary-codec are not installed: run `npm ci` in tests/xrp ({Directory})");
    }

    /// <summary>The tests/xrp folder.</summary>
    public string Directory { get; }

    public static string LocateXrpDirectory()
    {
        var xrp = Path.Combine(M2M.TestKit.RepoPaths.Root, "tests", "xrp");
        if (!File.Exists(Path.Combine(xrp, "package.json"))) throw new InvalidOperationException($"{xrp}/package.json is missing");
        return xrp;
    }

    public async Task<(string PublicKey, string Address, string Algorithm)> DeriveAsync(string seed)
    {
        var json = await RunAsync("derive.js", seed);
        return (json.GetProperty("publicKey").GetString()!, json.GetProperty("address").GetString()!, json.GetProperty("algorithm").GetString()!);
    }

    public async Task<string> EncodeClaimAsync(string channelId, string drops) =>
        (await RunAsync("encode-claim.js", channelId, drops)).GetProperty("message").GetString()!;

    public async Task<(string PublicKey, string Signature, string Message)> SignClaimAsync(string seed, string channelId, ulong drops)
    {
        var json = await RunAsync("sign-claim.js", seed, channelId, drops.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return (json.GetProperty("publicKey").GetString()!, json.GetProperty("signature").GetString()!, json.GetProperty("message").GetString()!);
    }

    public async Task<bool> VerifyClaimAsync(string publicKey, string channelId, ulong drops, string signatureHex)
    {
        var json = await RunAsync("verify-claim.js", publicKey, channelId, drops.ToString(System.Globalization.CultureInfo.InvariantCulture), signatureHex);
        return json.GetProperty("valid").GetBoolean();
    }

    /// <summary>Runs `node script args...` in tests/xrp and parses its one line of JSON output.</summary>
    public async Task<JsonElement> RunAsync(string script, params string[] args)
    {
        var psi = new ProcessStartInfo("node")
        {
            WorkingDirectory = Directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(script);
        foreach (var arg in args) psi.ArgumentList.Add(arg);

        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start node");
        var id = process.Id;
        _running[id] = process;
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(CallTimeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                M2M.TestKit.ChildProcess.Kill(process);
                throw new TimeoutException($"node {script} {string.Join(' ', args)} did not finish within {CallTimeout.TotalSeconds} s");
            }
            var output = await stdout;
            var errors = await stderr;
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"node {script} {string.Join(' ', args)} exited with {process.ExitCode}: {errors}{output}");
            using var doc = JsonDocument.Parse(output);
            return doc.RootElement.Clone();
        }
        finally
        {
            _running.TryRemove(id, out _);
        }
    }

    public void Dispose()
    {
        foreach (var (_, process) in _running) M2M.TestKit.ChildProcess.Kill(process);
        _running.Clear();
    }
}

[CollectionDefinition(Name)]
public sealed class XrpReferenceCollection : ICollectionFixture<XrpReferenceFixture>
{
    public const string Name = "XRP reference (ripple-keypairs)";
}

/// <summary>Fixed seeds (both key types) and channel ids used across the XRP tests.</summary>
internal static class XrpTestVectors
{
    /// <summary>The "masterpassphrase" seed (genesis account): secp256k1.</summary>
    public const string Secp256k1Seed = "snoPBrXtMeMyMHUVTgbuqAfg1SUTb";
    public const string Secp256k1PublicKey = "0330E7FC9D56BB25D6893BA3F317AE5BCF33B3291BD63DB32654A313222F7FD020";
    public const string Secp256k1Address = "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh";

    /// <summary>ripple-keypairs' ed25519 test seed.</summary>
    public const string Ed25519Seed = "sEdSKaCy2JT7JaM7v95H9SxkhP9wS2r";
    public const string Ed25519PublicKey = "ED01FA53FA5A7E77798F882ECE20B1ABC00BB358A9E55A202D0D0676BD0CE37A63";
    public const string Ed25519Address = "rLUEXYuLiQptky37CqLcm9USQpPiz5rkpD";

    /// <summary>A secp256k1 seed from ripple-keypairs' test fixtures.</summary>
    public const string OtherSecp256k1Seed = "sp5fghtJtpUorTwvof1NpDXAzNwf5";

    public const string ChannelId = "5DB01B7FFED6B67E6B0414DED11E051D2EE2B7619CE0EAA6286D67A3A4D5BDB3";
    public const string OtherChannelId = "C1AE6DDDEEC05CF2978C0BAD6FE302948E9533691DC749DCDD3B9E5992CA6198";

    public static readonly ulong[] Amounts = [0, 1, 1_000_000, 100_000_000_000_000_000, 1UL << 63, ulong.MaxValue];

    public static IEnumerable<object[]> Seeds() => [[Secp256k1Seed], [Ed25519Seed]];
}
