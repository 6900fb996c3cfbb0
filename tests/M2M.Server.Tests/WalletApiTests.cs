using System.Net;
using System.Net.Http.Headers;
using System.Numerics;
using System.Text;
using System.Text.Json;
using M2M.Server.Configuration;
using M2M.TestKit;
using M2M.Wallets;

namespace M2M.Server.Tests;

/// <summary>Real HTTP on 127.0.0.1 against a real connector host with a real wallet file.</summary>
internal sealed class WalletApiClient(ConnectorHost host, string? token = WalletApiClient.Token)
{
    public const string Token = "wallet-admin-token";
    public const string Mnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(20) };

    /// <summary>A fresh 2.0 store sealed with the public test mnemonic (fast PBKDF2 for tests).</summary>
    public static string NewStore(string? dir = null)
    {
        var path = Path.Combine(dir ?? Directory.CreateTempSubdirectory("m2m-wallet-api-").FullName, "agent-wallets.db");
        WalletStore.Init(path, "wallet-pw", Mnemonic, new WalletStoreOptions { Iterations = 1_000 }).Dispose();
        return path;
    }

    public static ConnectorSettings Settings(string? storePath, Uri? evmRpc = null, string password = "wallet-pw") => TestConnector.TwoPeers() with
    {
        AdminApiToken = Token,
        Wallet = new WalletSettings { Path = storePath ?? WalletSettings.DefaultPath, Password = storePath is null ? null : password, EvmRpcUrl = evmRpc },
    };

    public async Task<(HttpStatusCode Code, JsonElement Body)> SendAsync(HttpMethod method, string path, string? body = null)
    {
        using var request = new HttpRequestMessage(method, $"http://127.0.0.1:{host.HealthPort}{path}");
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType); // every answer, errors too, is JSON
        using var doc = JsonDocument.Parse(text);
        return (response.StatusCode, doc.RootElement.Clone());
    }

    public Task<(HttpStatusCode Code, JsonElement Body)> GetAsync(string path) => SendAsync(HttpMethod.Get, path);
    public Task<(HttpStatusCode Code, JsonElement Body)> PostAsync(string path, string? body = null) => SendAsync(HttpMethod.Post, path, body);
}

[Trait("Tier", "integration")]
public sealed class WalletApiTests
{
    private static string Error(JsonElement body) => body.GetProperty("error").GetString()!;

    [Fact]
    public async Task Create_is_idempotent_and_get_list_suspend_reactivate_archive_are_audited()
    {
        var store = WalletApiClient.NewStore();
        await using var host = await TestConnector.StartAsync(WalletApiClient.Settings(store));
        var api = new WalletApiClient(host);

        var (code, a) = await api.PostAsync("/admin/wallets", """{"agentId": "agent-a"}""");
        Assert.Equal(HttpStatusCode.Created, code);
        Assert.Equal((0, "active"), (a.GetProperty("derivationIndex").GetInt32(), a.GetProperty("status").GetString()));
        // The fixture generator's independent derivation of index 0 for this mnemonic.
        Assert.Equal("m/44'/60'/1'/0/0", a.GetProperty("evm").GetProperty("path").GetString());
        var again = await api.PostAsync("/admin/wallets", """{"agentId": "agent-a"}""");
        Assert.Equal(HttpStatusCode.OK, again.Code);
        Assert.Equal(a.GetProperty("evm").GetProperty("address").GetString(), again.Body.GetProperty("evm").GetProperty("address").GetString());
        for (int i = 0; i < 4; i++) Assert.Equal(HttpStatusCode.Created, (await api.PostAsync("/admin/wallets", $$"""{"agentId": "agent-{{i}}"}""")).Code);

        var (getCode, got) = await api.GetAsync("/admin/wallets/agent-1");
        Assert.Equal((HttpStatusCode.OK, 2), (getCode, got.GetProperty("derivationIndex").GetInt32()));
        Assert.StartsWith("r", got.GetProperty("xrp").GetProperty("address").GetString());

        Assert.Equal("suspended", (await api.PostAsync("/admin/wallets/agent-1/suspend", """{"reason": "abuse report"}""")).Body.GetProperty("status").GetString());
        Assert.Equal("active", (await api.PostAsync("/admin/wallets/agent-1/reactivate")).Body.GetProperty("status").GetString());
        Assert.Equal("suspended", (await api.PostAsync("/admin/wallets/agent-2/suspend")).Body.GetProperty("status").GetString());
        Assert.Equal("archived", (await api.PostAsync("/admin/wallets/agent-3/archive")).Body.GetProperty("status").GetString());
        var (reCode, re) = await api.PostAsync("/admin/wallets/agent-3/reactivate");
        Assert.Equal(HttpStatusCode.Conflict, reCode);
        Assert.Contains("archiving is final", Error(re));
        Assert.Equal(HttpStatusCode.Conflict, (await api.PostAsync("/admin/wallets/agent-2/suspend")).Code);

        var (listCode, list) = await api.GetAsync("/admin/wallets?limit=2&offset=1");
        Assert.Equal((HttpStatusCode.OK, 5, 2), (listCode, list.GetProperty("total").GetInt32(), list.GetProperty("wallets").GetArrayLength()));
        Assert.Equal(["agent-0", "agent-1"], list.GetProperty("wallets").EnumerateArray().Select(w => w.GetProperty("agentId").GetString()));
        var suspended = (await api.GetAsync("/admin/wallets?status=suspended")).Body;
        Assert.Equal(["agent-2"], suspended.GetProperty("wallets").EnumerateArray().Select(w => w.GetProperty("agentId").GetString()));

        var audit = (await api.GetAsync("/admin/wallets/agent-1/audit")).Body.GetProperty("entries").EnumerateArray().ToList();
        Assert.Equal(["created", "suspended", "reactivated"], audit.Select(e => e.GetProperty("action").GetString()));
        Assert.Contains("abuse report", audit[1].GetProperty("detail").GetString());

        await host.DisposeAsync();
        // The file holds what the API did, and the addresses re-derive from the seed.
        using var reopened = WalletStore.OpenExisting(store, "wallet-pw");
        Assert.Equal(5, reopened.VerifyAddresses());
        Assert.Equal(WalletStatus.Archived, reopened.Get("agent-3")!.Status);
    }

    [Fact]
    public async Task Every_bad_input_is_a_JSON_error_with_a_message()
    {
        await using var host = await TestConnector.StartAsync(WalletApiClient.Settings(WalletApiClient.NewStore()));
        var api = new WalletApiClient(host);
        await api.PostAsync("/admin/wallets", """{"agentId": "agent-a"}""");

        var cases = new (HttpMethod Method, string Path, string? Body, HttpStatusCode Code, string Message)[]
        {
            (HttpMethod.Get, "/admin/wallets/nobody", null, HttpStatusCode.NotFound, "no wallet for agent 'nobody'"),
            (HttpMethod.Post, "/admin/wallets/nobody/suspend", null, HttpStatusCode.NotFound, "no wallet for agent 'nobody'"),
            (HttpMethod.Get, "/admin/wallets/nobody/audit", null, HttpStatusCode.NotFound, "no wallet"),
            (HttpMethod.Get, "/admin/wallets/bad%20id", null, HttpStatusCode.BadRequest, "agent id 'bad id' is invalid"),
            (HttpMethod.Post, "/admin/wallets", """{"agentId": "-starts-with-dash"}""", HttpStatusCode.BadRequest, "is invalid"),
            (HttpMethod.Post, "/admin/wallets", """{"agentId": "x{{new string('a', 200)}}"}""", HttpStatusCode.BadRequest, "1 to 128"),
            (HttpMethod.Post, "/admin/wallets", """{"agentId": 7}""", HttpStatusCode.BadRequest, "string \"agentId\""),
            (HttpMethod.Post, "/admin/wallets", """{"agent": "a"}""", HttpStatusCode.BadRequest, "string \"agentId\""),
            (HttpMethod.Post, "/admin/wallets", "{not json", HttpStatusCode.BadRequest, "the body is not JSON"),
            (HttpMethod.Post, "/admin/wallets", "[1]", HttpStatusCode.BadRequest, "JSON object"),
            (HttpMethod.Post, "/admin/wallets", null, HttpStatusCode.BadRequest, "body is empty"),
            (HttpMethod.Post, "/admin/wallets/agent-a/explode", null, HttpStatusCode.NotFound, "unknown wallet action 'explode'"),
            (HttpMethod.Post, "/admin/wallets/agent-a/suspend", """{"reason": 5}""", HttpStatusCode.BadRequest, "\"reason\" must be a string"),
            (HttpMethod.Get, "/admin/wallets?status=deleted", null, HttpStatusCode.BadRequest, "status 'deleted' is invalid"),
            (HttpMethod.Get, "/admin/wallets?limit=0", null, HttpStatusCode.BadRequest, "limit '0' is invalid"),
            (HttpMethod.Get, "/admin/wallets?limit=501", null, HttpStatusCode.BadRequest, "from 1 to 500"),
            (HttpMethod.Get, "/admin/wallets?offset=-1", null, HttpStatusCode.BadRequest, "offset '-1' is invalid"),
            (HttpMethod.Get, "/admin/wallets?page=2", null, HttpStatusCode.BadRequest, "unknown query parameter 'page'"),
            (HttpMethod.Get, "/admin/wallets/agent-a/balances", null, HttpStatusCode.NotFound, "set wallet.evmRpcUrl"),
        };
        foreach (var c in cases)
        {
            var (code, body) = await api.SendAsync(c.Method, c.Path, c.Body?.Replace("{{new string('a', 200)}}", new string('a', 200), StringComparison.Ordinal));
            Assert.True(c.Code == code, $"{c.Method} {c.Path}: {code} {body}");
            Assert.Contains(c.Message, Error(body));
        }

        var (noToken, nt) = await new WalletApiClient(host, token: null).GetAsync("/admin/wallets");
        Assert.Equal(HttpStatusCode.Unauthorized, noToken);
        Assert.Contains("bearer token", Error(nt));
        Assert.Equal(HttpStatusCode.Unauthorized, (await new WalletApiClient(host, token: "wrong").PostAsync("/admin/wallets", """{"agentId": "x"}""")).Code);
        // Nothing the refused calls asked for was written.
        Assert.Equal(1, (await api.GetAsync("/admin/wallets")).Body.GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task Without_a_configured_wallet_the_connector_runs_and_the_API_says_what_to_set()
    {
        await using var host = await TestConnector.StartAsync(WalletApiClient.Settings(storePath: null));
        var api = new WalletApiClient(host);
        var (code, body) = await api.PostAsync("/admin/wallets", """{"agentId": "agent-a"}""");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, code);
        Assert.Contains("set WALLET_PASSWORD", Error(body));
        Assert.Contains("wallet init", Error(body));
        // The token is still checked first; health is unaffected.
        Assert.Equal(HttpStatusCode.Unauthorized, (await new WalletApiClient(host, token: null).GetAsync("/admin/wallets")).Code);
        Assert.Equal(ConnectorState.Running, host.State);

        var missing = Path.Combine(Directory.CreateTempSubdirectory("m2m-wallet-api-").FullName, "none.db");
        await using var host2 = await TestConnector.StartAsync(WalletApiClient.Settings(missing));
        var (code2, body2) = await new WalletApiClient(host2).GetAsync("/admin/wallets");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, code2);
        Assert.Contains("does not exist", Error(body2));
        Assert.False(File.Exists(missing)); // the connector never creates a seed on its own
    }

    [Fact]
    public async Task A_wrong_wallet_password_leaves_the_store_unchanged_and_answers_503()
    {
        var store = WalletApiClient.NewStore();
        var before = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(store)));
        await using var host = await TestConnector.StartAsync(WalletApiClient.Settings(store, password: "not-the-password"));
        var (code, body) = await new WalletApiClient(host).GetAsync("/admin/wallets/agent-a");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, code);
        Assert.Contains("wrong wallet password", Error(body));
        Assert.DoesNotContain("not-the-password", body.ToString());
        await host.DisposeAsync();
        Assert.Equal(before, Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(store))));
    }
}

/// <summary>Agent EVM balances through Nethereum's eth_getBalance against a real ganache node.</summary>
[Collection(EvmNodeCollection.Name)]
[Trait("Tier", "integration")]
public sealed class WalletBalanceTests(EvmNodeFixture node)
{
    [Fact]
    public async Task Balance_of_an_agent_address_is_read_from_the_chain()
    {
        await using var host = await TestConnector.StartAsync(WalletApiClient.Settings(WalletApiClient.NewStore(), new Uri(node.RpcUrl)));
        var api = new WalletApiClient(host);
        // A fresh agent id per run: the ganache node is shared with other tests of the collection.
        var agent = $"agent-{Guid.NewGuid():N}";
        var (_, created) = await api.PostAsync("/admin/wallets", $$"""{"agentId": "{{agent}}"}""");
        var address = created.GetProperty("evm").GetProperty("address").GetString()!;
        var before = await Balance(api, agent);

        var amount = BigInteger.Parse("1234567890123456789", System.Globalization.CultureInfo.InvariantCulture);
        await node.RpcAsync("eth_sendTransaction", new { from = EvmNodeFixture.Accounts[0].Address, to = address, value = "0x" + amount.ToString("x", System.Globalization.CultureInfo.InvariantCulture) });

        Assert.Equal(before + amount, await Balance(api, agent));
        var (code, body) = await api.GetAsync($"/admin/wallets/{agent}/balances");
        Assert.Equal(HttpStatusCode.OK, code);
        var evm = Assert.Single(body.GetProperty("balances").EnumerateArray());
        Assert.Equal((address, "evm", "wei"), (evm.GetProperty("address").GetString(), evm.GetProperty("chain").GetString(), evm.GetProperty("unit").GetString()));
    }

    [Fact]
    public async Task An_unreachable_node_is_a_502_with_a_message()
    {
        int port = LoopbackPort.Free();
        await using var host = await TestConnector.StartAsync(WalletApiClient.Settings(WalletApiClient.NewStore(), new Uri($"http://127.0.0.1:{port}")));
        var api = new WalletApiClient(host);
        await api.PostAsync("/admin/wallets", """{"agentId": "agent-a"}""");
        var (code, body) = await api.GetAsync("/admin/wallets/agent-a/balances");
        Assert.Equal(HttpStatusCode.BadGateway, code);
        Assert.Contains("eth_getBalance", body.GetProperty("error").GetString());
    }

    private static async Task<BigInteger> Balance(WalletApiClient api, string agent)
    {
        var (code, body) = await api.GetAsync($"/admin/wallets/{agent}/balances");
        Assert.Equal(HttpStatusCode.OK, code);
        return BigInteger.Parse(body.GetProperty("balances")[0].GetProperty("balance").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
    }
}
