using M2M.TestKit;

namespace M2M.Reliability.Tests;

/// <summary>Helpers for tests that run the real m2m-connector executable.</summary>
internal static class ProcessSupport
{
    public static async Task WaitForHealth(int port, CliProcess connector, TimeSpan? timeout = null)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var r = await http.GetAsync($"http://127.0.0.1:{port}/health");
                if (r.IsSuccessStatusCode) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"connector not healthy in time\nstdout:\n{connector.Stdout}\nstderr:\n{connector.Stderr}");
    }

    public static Dictionary<string, string> Ports(int btp, int http, string ledgerPath) => new()
    {
        ["BTP_SERVER_PORT"] = btp.ToString(), ["HEALTH_CHECK_PORT"] = http.ToString(),
        ["BIND_ADDRESS"] = "127.0.0.1", ["LEDGER_PATH"] = ledgerPath,
    };
}
