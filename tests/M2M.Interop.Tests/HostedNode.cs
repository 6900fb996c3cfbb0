using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using M2M.Server;
using M2M.Server.Configuration;

namespace M2M.Interop.Tests;

/// <summary>
/// Our connector with an admin token for the hosted-account tests (issue 17): an admin HTTP client, the npm
/// peers a test starts (disposed with it), balances from /admin/balances and waiting for a payment to finish.
/// </summary>
internal sealed class HostedNode : IAsyncDisposable
{
    public const string Admin = "hosted-admin-token";
    private readonly List<NodePeer> _peers = [];

    private HostedNode(ConnectorHost host)
    {
        Host = host;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{host.HealthPort}") };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Admin);
    }

    public ConnectorHost Host { get; }
    public HttpClient Http { get; }

    /// <summary>Node "conn" at test.conn with the given peers and routes.</summary>
    public static async Task<HostedNode> StartAsync(IReadOnlyList<PeerSettings> peers, IReadOnlyList<M2M.Core.Routing.Route>? routes = null) =>
        new(await InteropConnector.StartAsync(new ConnectorSettings
        {
            NodeId = "conn", IlpAddress = "test.conn", AdminApiToken = Admin, Peers = peers, Routes = routes ?? [],
        }));

    /// <summary>Long-lived peers (a STREAM server, the JS connector) outlive one payment: their own cap is 120 s, not NodePeer's 25 s.</summary>
    public const string LongLived = "120000";

    public NodePeer Start(string name, string script, params string[] args)
    {
        var peer = NodePeer.Start(name, script, args.Contains("--timeout-ms") ? args : [.. args, "--timeout-ms", LongLived]);
        _peers.Add(peer);
        return peer;
    }

    /// <summary>POST /admin/accounts; returns the answer (with the token when it created the account).</summary>
    public async Task<JsonElement> CreateAccountAsync(string id)
    {
        var response = await Http.PostAsJsonAsync("/admin/accounts", new { id });
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    public async Task<string> BalanceAsync(string id)
    {
        var rows = await Http.GetFromJsonAsync<JsonElement>("/admin/balances");
        return rows.EnumerateArray().Single(r => r.Str("peerId") == id).Str("balance");
    }

    /// <summary>Polls GET /accounts/{from}/payments/{id} until it is no longer "sending".</summary>
    public async Task<JsonElement> FinishedAsync(string from, string paymentId)
    {
        JsonElement payment = default;
        await InteropConnector.WaitUntil(() =>
        {
            payment = Http.GetFromJsonAsync<JsonElement>($"/accounts/{from}/payments/{paymentId}").GetAwaiter().GetResult();
            return payment.Str("state") != "sending";
        }, "payment finished", 30, () => " " + payment.GetRawText());
        return payment;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await InteropConnector.DisposeAllAsync(Host, [.. _peers]);
    }
}

/// <summary>
/// A test class on one <see cref="HostedNode"/>, started before each test and disposed after it, with the
/// members every hosted-account test uses (the setup HostedAccountStreamTests, SendApiTests and
/// JsConnectorHopTests wrote out each).
/// </summary>
public abstract class HostedNodeTest : IAsyncLifetime
{
    private HostedNode? _node;

    private protected HostedNode Node => _node ?? throw new InvalidOperationException("the hosted node is not started");

    private protected ConnectorHost Host => Node.Host;

    private protected HttpClient Http => Node.Http;

    /// <summary>The node this class tests, from <see cref="HostedNode.StartAsync"/>.</summary>
    private protected abstract Task<HostedNode> StartNodeAsync();

    public virtual async Task InitializeAsync() => _node = await StartNodeAsync();

    public async Task DisposeAsync()
    {
        if (_node is not null) await _node.DisposeAsync();
    }

    private protected NodePeer Start(string name, string script, params string[] args) => Node.Start(name, script, args);

    private protected Task<string> BalanceAsync(string id) => Node.BalanceAsync(id);
}
