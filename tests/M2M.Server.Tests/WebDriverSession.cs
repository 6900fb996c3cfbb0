using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using M2M.TestKit;

namespace M2M.Server.Tests;

/// <summary>
/// Headless Chromium through chromedriver's W3C WebDriver HTTP API (Debian packages chromium and
/// chromium-driver): the few commands the Explorer test needs, no Selenium package.
/// </summary>
internal sealed class WebDriverSession : IAsyncDisposable
{
    private const string ElementKey = "element-6066-11e4-a52e-4f735466cecf";
    public const string Driver = "/usr/bin/chromedriver";
    public const string Browser = "/usr/bin/chromium";

    private readonly Process _driver;
    private readonly HttpClient _http;
    private readonly string _session;

    private WebDriverSession(Process driver, HttpClient http, string session) => (_driver, _http, _session) = (driver, http, session);

    public static bool Available => File.Exists(Driver) && File.Exists(Browser);

    public static async Task<WebDriverSession> StartAsync()
    {
        int port = FreePort();
        var driver = Process.Start(new ProcessStartInfo(Driver, [$"--port={port}", "--allowed-ips=127.0.0.1"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        })!;
        driver.OutputDataReceived += (_, _) => { };
        driver.ErrorDataReceived += (_, _) => { };
        driver.BeginOutputReadLine();
        driver.BeginErrorReadLine();
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
        try
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (true)
            {
                try
                {
                    using var status = await http.GetAsync("/status");
                    if (status.IsSuccessStatusCode) break;
                }
                catch (HttpRequestException) when (DateTime.UtcNow < deadline)
                {
                }
                await Task.Delay(100);
            }
            var capabilities = new JsonObject
            {
                ["capabilities"] = new JsonObject
                {
                    ["alwaysMatch"] = new JsonObject
                    {
                        ["browserName"] = "chrome",
                        ["goog:chromeOptions"] = new JsonObject
                        {
                            ["binary"] = Browser,
                            ["args"] = new JsonArray("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,900",
                                $"--user-data-dir={Path.Combine(Path.GetTempPath(), "m2m-chromium-" + Guid.NewGuid().ToString("N"))}"),
                        },
                    },
                },
            };
            var created = await PostAsync(http, "/session", capabilities);
            return new WebDriverSession(driver, http, created["sessionId"]!.GetValue<string>());
        }
        catch
        {
            http.Dispose();
            ChildProcess.Kill(driver);
            throw;
        }
    }

    private static async Task<JsonNode> PostAsync(HttpClient http, string path, JsonNode body)
    {
        // A sized body: chromedriver's server drops chunked requests (what JsonContent sends).
        using var r = await http.PostAsync(path, new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json"));
        var value = JsonNode.Parse(await r.Content.ReadAsStringAsync())!["value"]!;
        if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"WebDriver {path}: {value["message"]}");
        return value;
    }

    private Task<JsonNode> CommandAsync(string path, JsonNode? body = null) => PostAsync(_http, $"/session/{_session}{path}", body ?? new JsonObject());

    public Task GoToAsync(Uri url) => CommandAsync("/url", new JsonObject { ["url"] = url.ToString() });

    /// <summary>The element matching <paramref name="css"/>, waiting up to 10 s for it (a page that is still loading has none yet).</summary>
    public async Task<string> FindAsync(string css)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            try
            {
                return (await CommandAsync("/element", new JsonObject { ["using"] = "css selector", ["value"] = css }))[ElementKey]!.GetValue<string>();
            }
            catch (InvalidOperationException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }

    public async Task TypeAsync(string css, string text) =>
        await CommandAsync($"/element/{await FindAsync(css)}/value", new JsonObject { ["text"] = text });

    public async Task ClickAsync(string css) => await CommandAsync($"/element/{await FindAsync(css)}/click");

    /// <summary>Runs <paramref name="script"/> (a function body) in the page and returns its value as JSON.</summary>
    public async Task<JsonNode?> RunAsync(string script) => await CommandAsync("/execute/sync", new JsonObject { ["script"] = script, ["args"] = new JsonArray() });

    public async Task<JsonNode?> WaitForAsync(string script, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            // While the page navigates (a form submit reloads it) elements are missing or the context is gone: not yet.
            JsonNode? value;
            try
            {
                value = await RunAsync($"try {{ {script} }} catch (e) {{ return false; }}");
            }
            catch (InvalidOperationException) when (DateTime.UtcNow <= deadline)
            {
                value = null;
            }
            if (value is not null && !(value.GetValueKind() == JsonValueKind.False)) return value;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the page never satisfied: {script}");
            await Task.Delay(100);
        }
    }

    public async Task ScreenshotAsync(string path)
    {
        using var r = await _http.GetAsync($"/session/{_session}/screenshot");
        r.EnsureSuccessStatusCode();
        var png = Convert.FromBase64String(JsonNode.Parse(await r.Content.ReadAsStringAsync())!["value"]!.GetValue<string>());
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllBytesAsync(path, png);
    }

    private static int FreePort() => LoopbackPort.Free();

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var _ = await _http.DeleteAsync($"/session/{_session}");
        }
        catch (HttpRequestException)
        {
            // the driver is gone already
        }
        _http.Dispose();
        ChildProcess.Kill(_driver);
        _driver.Dispose();
    }
}
