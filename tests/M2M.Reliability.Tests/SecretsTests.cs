using System.Net.Http.Headers;
using M2M.Core.Ilp;
using M2M.TestKit;
using Xunit.Abstractions;

namespace M2M.Reliability.Tests;

/// <summary>
/// R13: the real process with known secrets in every place one can be given (peer secrets in the
/// environment and YAML, an outgoing peer's token, ADMIN_API_TOKEN, EVM_PRIVATE_KEY,
/// WALLET_PASSWORD), at debug level, driven through failures: none appears in stdout, stderr,
/// /health or /metrics.
/// </summary>
[Trait("Tier", "process")]
public class SecretsTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Secrets_never_appear_in_logs_health_or_metrics_even_at_debug_level_and_on_failures()
    {
        var secrets = new Dictionary<string, string>
        {
            ["alice (BTP_PEER_ALICE_SECRET)"] = "alice-S3cret-7b1e0c",
            ["bob (yaml authToken)"] = "bob-S3cret-90d2aa",
            ["upstream (outgoing authToken)"] = "upstream-S3cret-44f0",
            ["ADMIN_API_TOKEN"] = "admin-S3cret-c0ffee",
            ["EVM_PRIVATE_KEY"] = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
            ["WALLET_PASSWORD"] = "wallet-S3cret-pa55",
        };
        string dir = Directory.CreateTempSubdirectory("m2m-secrets-").FullName;
        string config = Path.Combine(dir, "config.yaml");
        int btp = CliProcess.FreePort(), http = CliProcess.FreePort(), closed = CliProcess.FreePort();
        await File.WriteAllTextAsync(config, $$"""
            nodeId: sec
            logLevel: debug
            peers:
              - { id: alice }
              - { id: bob, authToken: {{secrets["bob (yaml authToken)"]}} }
              - { id: upstream, url: "ws://127.0.0.1:{{closed}}", authToken: {{secrets["upstream (outgoing authToken)"]}} }
            routes:
              - { prefix: g.bob, nextHop: bob }
            """);
        var env = ProcessSupport.Ports(btp, http, Path.Combine(dir, "ledger.db"));
        env["LOG_LEVEL"] = "debug";
        env["BTP_PEER_ALICE_SECRET"] = secrets["alice (BTP_PEER_ALICE_SECRET)"];
        env["ADMIN_API_TOKEN"] = secrets["ADMIN_API_TOKEN"];
        env["EVM_PRIVATE_KEY"] = secrets["EVM_PRIVATE_KEY"];
        env["WALLET_PASSWORD"] = secrets["WALLET_PASSWORD"];

        using var connector = CliProcess.Start(env, "run", "--config", config);
        await CliProcess.WaitForHealth(http, connector);
        var seen = new List<string>();
        // Failures: wrong tokens (one of them a secret of another peer), wrong admin tokens, then normal traffic.
        await using (var wrong = await RawBtpClient.ConnectAsync(btp)) Assert.NotNull(await wrong.AuthenticateAsync("alice", secrets["bob (yaml authToken)"]));
        await using (var wrong = await RawBtpClient.ConnectAsync(btp)) Assert.NotNull(await wrong.AuthenticateAsync(secrets["ADMIN_API_TOKEN"], secrets["alice (BTP_PEER_ALICE_SECRET)"] + "x"));
        await using (var alice = await TestPeer.ConnectAsync(btp, "alice", secrets["alice (BTP_PEER_ALICE_SECRET)"]))
        await using (var bob = await TestPeer.ConnectAsync(btp, "bob", secrets["bob (yaml authToken)"]))
        {
            Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("g.bob.x", 5)));
            Assert.IsType<IlpReject>(await alice.SendAsync(TestPeer.Payment("g.nowhere", 5)));
        }
        using var client = new HttpClient();
        foreach (string? token in new[] { null, "nope", secrets["ADMIN_API_TOKEN"] })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{http}/admin/balances");
            if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await client.SendAsync(request);
            seen.Add(await response.Content.ReadAsStringAsync());
        }
        seen.Add(await client.GetStringAsync($"http://127.0.0.1:{http}/health"));
        seen.Add(await client.GetStringAsync($"http://127.0.0.1:{http}/metrics"));
        seen.Add((await CliProcess.RunAsync(env, "config", "validate", config)).Stdout);
        var badKey = new Dictionary<string, string>(env) { ["EVM_PRIVATE_KEY"] = secrets["EVM_PRIVATE_KEY"][..60] };
        var (badCode, badOut, badErr) = await CliProcess.RunAsync(badKey, "config", "validate", config);
        Assert.NotEqual(0, badCode);
        seen.Add(badOut + badErr);
        connector.Signal(CliProcess.SIGTERM);
        await connector.WaitForExitAsync(TimeSpan.FromSeconds(30));
        seen.Add(connector.Stdout);
        seen.Add(connector.Stderr);

        string everything = string.Join("\n", seen);
        output.WriteLine($"grepped {everything.Length} characters of logs, /health, /metrics and CLI output for {secrets.Count} secrets");
        Assert.Contains("BTP auth rejected", connector.Stdout + connector.Stderr); // the failures really were logged
        Assert.Contains("connect failed", connector.Stdout + connector.Stderr); // and the outgoing connect failures
        foreach (var (name, value) in secrets)
        {
            Assert.False(everything.Contains(value, StringComparison.Ordinal), $"secret {name} appears in the output");
            Assert.False(everything.Contains(value[..12], StringComparison.Ordinal), $"a prefix of secret {name} appears in the output");
        }
        Directory.Delete(dir, true);
    }
}
