using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using M2M.Core.Ilp;
using M2M.Core.Switch;
using M2M.Server.Configuration;
using Microsoft.AspNetCore.Builder;

namespace M2M.Server.Tests;

/// <summary>Issue 17: the hosted-account admin API, account tokens, SPSP and durability, over real HTTP on 127.0.0.1.</summary>
[Trait("Tier", "integration")]
public sealed class HostedAccountApiTests
{
    private const string Admin = "accounts-admin-token";
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(20) };

    private static ConnectorSettings Settings(string? ledgerPath = null)
    {
        var s = TestConnector.WithTempLedger(TestConnector.TwoPeers()) with { AdminApiToken = Admin };
        return ledgerPath is null ? s : s with { Ledger = s.Ledger with { Path = ledgerPath } };
    }

    private static async Task<(HttpStatusCode Code, JsonElement Body, HttpResponseMessage Response)> Send(ConnectorHost host, HttpMethod method, string path,
        string? body = null, string? token = Admin, string? accept = null)
    {
        using var request = new HttpRequestMessage(method, $"http://127.0.0.1:{host.HealthPort}{path}");
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (accept is not null) request.Headers.TryAddWithoutValidation("Accept", accept);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        var response = await Http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        var json = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
        return (response.StatusCode, json, response);
    }

    [Fact]
    public async Task Create_is_idempotent_shows_the_token_once_and_lists_the_account_in_balances()
    {
        await using var host = await TestConnector.StartAsync(Settings());

        var (created, a, _) = await Send(host, HttpMethod.Post, "/admin/accounts", """{"id": "agent1"}""");
        var (again, b, _) = await Send(host, HttpMethod.Post, "/admin/accounts", """{"id": "agent1"}""");
        var (_, list, _) = await Send(host, HttpMethod.Get, "/admin/accounts");
        var (_, balances, _) = await Send(host, HttpMethod.Get, "/admin/balances");

        Assert.Equal(HttpStatusCode.Created, created);
        Assert.Equal(HttpStatusCode.OK, again);
        Assert.Equal($"{host.Settings.IlpAddress}.agent1", a.GetProperty("ilpAddress").GetString());
        Assert.True(a.GetProperty("token").GetString()!.Length >= 40);
        Assert.Equal(JsonValueKind.Null, b.GetProperty("token").ValueKind);
        Assert.Equal("agent1", Assert.Single(list.EnumerateArray()).GetProperty("id").GetString());
        Assert.Equal("0", balances.EnumerateArray().Single(r => r.GetProperty("peerId").GetString() == "agent1").GetProperty("balance").GetString());
    }

    [Fact]
    public async Task Bad_input_and_wrong_tokens_get_one_clear_error_each()
    {
        await using var host = await TestConnector.StartAsync(Settings());
        var (_, a, _) = await Send(host, HttpMethod.Post, "/admin/accounts", """{"id": "agent1"}""");
        await Send(host, HttpMethod.Post, "/admin/accounts", """{"id": "agent2"}""");
        string token = a.GetProperty("token").GetString()!;

        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(host, HttpMethod.Post, "/admin/accounts", """{"id": "x"}""", token: "wrong")).Code);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(host, HttpMethod.Post, "/admin/accounts", """{"id": "x"}""", token: token)).Code);
        var (badCode, bad, _) = await Send(host, HttpMethod.Post, "/admin/accounts", """{"id": "no spaces"}""");
        Assert.Equal(HttpStatusCode.BadRequest, badCode);
        Assert.Contains("'no spaces' is invalid", bad.GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, (await Send(host, HttpMethod.Post, "/admin/accounts", "not json")).Code);
        var (peerCode, peer, _) = await Send(host, HttpMethod.Post, "/admin/accounts", """{"id": "alice"}""");
        Assert.Equal(HttpStatusCode.Conflict, peerCode);
        Assert.Contains("peer", peer.GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.OK, (await Send(host, HttpMethod.Get, "/accounts/agent1", token: token)).Code);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(host, HttpMethod.Get, "/accounts/agent2", token: token)).Code);
        var (payCode, pay, _) = await Send(host, HttpMethod.Post, "/accounts/agent1/payments", """{"receiver": "ftp://x", "sourceAmount": 5}""", token: token);
        Assert.Equal(HttpStatusCode.BadRequest, payCode);
        Assert.Contains("payment pointer", pay.GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, (await Send(host, HttpMethod.Post, "/accounts/agent1/payments", """{"receiver": "$x.example/b", "sourceAmount": -1}""", token: token)).Code);
    }

    [Fact]
    public async Task Every_endpoint_that_takes_a_body_answers_a_bad_one_with_the_same_error()
    {
        await using var host = await TestConnector.StartAsync(Settings());
        var (_, a, _) = await Send(host, HttpMethod.Post, "/admin/accounts", """{"id": "agent1"}""");
        string token = a.GetProperty("token").GetString()!;
        var endpoints = new (string Path, string Token)[]
        {
            ("/admin/accounts", Admin), ("/accounts/agent1/payments", token), ("/admin/peers", Admin), ("/admin/routes", Admin), ("/settlement/execute", Admin),
        };
        foreach (var (path, bearer) in endpoints)
        {
            foreach (var (body, says) in new[] { (" ", "the body is empty; expected a JSON object"), ("{nope", "the body is not JSON: "), ("[1]", "the body must be a JSON object") })
            {
                var (code, error, _) = await Send(host, HttpMethod.Post, path, body, token: bearer);
                Assert.True(code == HttpStatusCode.BadRequest, $"{path} '{body}': {code} {error}");
                Assert.StartsWith(says, error.GetProperty("error").GetString(), StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task An_spsp_answer_larger_than_the_limit_is_refused_saying_so()
    {
        await using var host = await TestConnector.StartAsync(Settings());
        var (web, baseUrl) = await M2M.TestKit.LoopbackWeb.StartAsync(app => app.MapGet("/big", () => Microsoft.AspNetCore.Http.Results.Text(
            "{\"destination_account\": \"g.x\", \"shared_secret\": \"" + new string('A', M2M.Server.Accounts.PaymentService.MaxSpspResponseBytes) + "\"}", "application/spsp4+json")));
        await using (web)
        {
            var e = await Assert.ThrowsAsync<M2M.Server.Accounts.SpspException>(() => host.Payments.ResolveAsync(new Uri(baseUrl, "big").ToString(), CancellationToken.None));
            Assert.Contains($"is larger than {M2M.Server.Accounts.PaymentService.MaxSpspResponseBytes} bytes", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Spsp_answers_with_a_fresh_address_and_secret_and_open_cors()
    {
        await using var host = await TestConnector.StartAsync(Settings());
        await Send(host, HttpMethod.Post, "/admin/accounts", """{"id": "agent1"}""");

        var (code, spsp, response) = await Send(host, HttpMethod.Get, "/agent1", token: null, accept: "application/spsp4+json, application/spsp+json");
        var (_, second, _) = await Send(host, HttpMethod.Get, "/agent1", token: null, accept: "application/spsp4+json");
        var (notSpsp, _, _) = await Send(host, HttpMethod.Get, "/agent1", token: null, accept: "text/html");
        var (missing, _, _) = await Send(host, HttpMethod.Get, "/nobody", token: null, accept: "application/spsp4+json");
        var (preflight, _, pre) = await Send(host, HttpMethod.Options, "/agent1", token: null);

        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("application/spsp4+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("*", response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        string destination = spsp.GetProperty("destination_account").GetString()!;
        Assert.StartsWith($"{host.Settings.IlpAddress}.agent1.", destination);
        Assert.True(IlpAddress.IsValid(destination));
        Assert.Equal(32, Convert.FromBase64String(spsp.GetProperty("shared_secret").GetString()!).Length);
        Assert.NotEqual(destination, second.GetProperty("destination_account").GetString());
        Assert.Equal(HttpStatusCode.NotAcceptable, notSpsp);
        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Equal(HttpStatusCode.NoContent, preflight);
        Assert.Contains("GET", pre.Headers.GetValues("Access-Control-Allow-Methods").Single());
    }

    [Fact]
    public async Task Accounts_and_their_tokens_survive_a_restart_and_delete_is_idempotent()
    {
        var settings = Settings();
        string token;
        string spspSecret;
        await using (var host = await TestConnector.StartAsync(settings))
        {
            token = (await Send(host, HttpMethod.Post, "/admin/accounts", """{"id": "agent1"}""")).Body.GetProperty("token").GetString()!;
            spspSecret = (await Send(host, HttpMethod.Get, "/agent1", token: null, accept: "application/spsp4+json")).Body.GetProperty("destination_account").GetString()!;
        }
        await using var again = await TestConnector.StartAsync(settings);
        Assert.Equal(HttpStatusCode.OK, (await Send(again, HttpMethod.Get, "/accounts/agent1", token: token)).Code);

        // A packet to a connection token issued before the restart still reaches the receiver (the server secret is durable):
        // it gets the receiver's F06 for data it cannot decrypt, not F02 for an unknown connection.
        var reply = await again.Switch.HandleAsync(new IlpPrepare
        {
            Amount = 0, Destination = spspSecret, ExecutionCondition = new byte[32], ExpiresAt = DateTimeOffset.UtcNow.AddSeconds(10), Data = new byte[40],
        }, new PeerDescriptor("alice", PeerRelation.Peer, "USD", 9, null), CancellationToken.None);
        Assert.Equal("F06", Assert.IsType<IlpReject>(reply).Code);

        var (first, d1, _) = await Send(again, HttpMethod.Delete, "/admin/accounts/agent1");
        var (second, d2, _) = await Send(again, HttpMethod.Delete, "/admin/accounts/agent1");
        Assert.Equal((HttpStatusCode.OK, true), (first, d1.GetProperty("deleted").GetBoolean()));
        Assert.Equal((HttpStatusCode.OK, false), (second, d2.GetProperty("deleted").GetBoolean()));
        Assert.Equal(HttpStatusCode.NotFound, (await Send(again, HttpMethod.Get, "/agent1", token: null, accept: "application/spsp4+json")).Code);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(again, HttpMethod.Get, "/accounts/agent1", token: token)).Code);
    }
}
