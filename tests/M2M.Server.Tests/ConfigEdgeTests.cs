using M2M.Server.Configuration;

namespace M2M.Server.Tests;

/// <summary>Issue 13 item 9: config errors never echo passwords or huge values; duplicate YAML keys are errors naming both lines.</summary>
[Trait("Tier", "unit")]
public sealed class ConfigEdgeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("m2m-config-").FullName;
    private readonly Dictionary<string, string> _env = [];

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private IReadOnlyList<string> Errors(string yaml)
    {
        string path = Path.Combine(_dir, $"c{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, yaml);
        return Assert.Throws<ConfigException>(() => new ConfigLoader(name => _env.GetValueOrDefault(name)).Load(path)).Errors;
    }

    [Fact]
    public void A_duplicate_key_is_an_error_naming_both_lines()
    {
        var errors = Errors("""
            nodeId: conn
            peers:
              - id: alice
                creditLimit: 1000
                authToken: t
                creditLimit: 5000000
            nodeId: other
            """);
        Assert.Equal(2, errors.Count);
        Assert.EndsWith(":6:5: duplicate key 'creditLimit' (first at line 4); each key may appear once in a mapping", errors[0]);
        Assert.EndsWith(":7:1: duplicate key 'nodeId' (first at line 1); each key may appear once in a mapping", errors[1]);
    }

    [Fact]
    public void The_same_key_in_two_different_mappings_is_fine()
    {
        string path = Path.Combine(_dir, "same-keys.yaml");
        File.WriteAllText(path, """
            nodeId: conn
            peers:
              - { id: alice, authToken: a, asset: { code: USD, scale: 9 } }
              - { id: bob, authToken: b, asset: { code: USD, scale: 9 } }
            """);
        Assert.Equal(2, new ConfigLoader(name => _env.GetValueOrDefault(name)).Load(path).Peers.Count);
    }

    [Fact]
    public void Passwords_in_urls_and_connection_strings_are_redacted_in_errors()
    {
        _env["LEDGER_BACKEND"] = "postgres";
        _env["LEDGER_POSTGRES_URL"] = "Host=db;Password=hunter2;Bogus Key=1";
        var errors = Errors("""
            nodeId: conn
            peers:
              - { id: alice, url: "http://alice:s3cret-token@example.com:3000" }
            """);
        string all = string.Join("\n", errors);
        Assert.DoesNotContain("hunter2", all);
        Assert.DoesNotContain("s3cret-token", all);
        Assert.Contains("'http://alice:***@example.com:3000'", all);
        Assert.Contains("Password=***", all);
    }

    [Fact]
    public void A_huge_value_is_cut_to_its_start_and_length()
    {
        string huge = new('x', 5_000_000);
        var error = Assert.Single(Errors($"nodeId: conn\nbtpServerPort: {huge}\n"));
        Assert.True(error.Length < 400, $"{error.Length} characters");
        Assert.Contains("… (5,000,000 characters)", error);
    }

    [Fact]
    public void A_postgres_url_is_accepted_and_a_bad_one_is_one_clear_line()
    {
        _env["LEDGER_BACKEND"] = "postgres";
        _env["LEDGER_POSTGRES_URL"] = "postgres://m2m:p%40ss@db.example:6543/ledger?sslmode=require";
        string path = Path.Combine(_dir, "ok.yaml");
        File.WriteAllText(path, "nodeId: conn\n");
        var settings = new ConfigLoader(name => _env.GetValueOrDefault(name)).Load(path);
        var parsed = M2M.Ledger.Postgres.PostgresConnectionString.Parse(settings.Ledger.PostgresUrl!);
        Assert.Equal(("db.example", 6543, "m2m", "p@ss", "ledger"), (parsed.Host, parsed.Port, parsed.Username, parsed.Password, parsed.Database));

        _env["LEDGER_POSTGRES_URL"] = "host=db;password=hunter2;port=notanumber";
        var error = Assert.Single(Errors("nodeId: conn\n"));
        Assert.StartsWith("ledger.postgresUrl (LEDGER_POSTGRES_URL): '", error);
        Assert.DoesNotContain("hunter2", error);
        Assert.DoesNotContain("\n", error);
    }
}

/// <summary>Issue 13 item 9: a JSON body that is not UTF-8 is a client error (400), not a 500.</summary>
[Trait("Tier", "integration")]
public sealed class Utf8BodyTests
{
    [Fact]
    public async Task A_json_body_with_invalid_utf8_gets_400_and_a_valid_one_still_works()
    {
        await using var host = await TestConnector.StartAsync(TestConnector.TwoPeers() with { AdminApiToken = "admin-token" });
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{host.HealthPort}/") };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "admin-token");

        byte[] body = [.. "{\"peerId\":\""u8, 0xFF, 0xFE, .. "\"}"u8];
        using var invalid = new ByteArrayContent(body);
        invalid.Headers.ContentType = new("application/json");
        using var refused = await http.PostAsync("settlement/execute", invalid);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("not valid UTF-8", await refused.Content.ReadAsStringAsync());

        using var valid = new StringContent("{\"peerId\":\"bob\"}", System.Text.Encoding.UTF8, "application/json");
        using var answered = await http.PostAsync("settlement/execute", valid);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, answered.StatusCode); // bob has no settlement: a normal 400 from the endpoint
        Assert.Contains("no settlement configured", await answered.Content.ReadAsStringAsync());
    }
}
