using M2M.TestKit;

namespace M2M.Reliability.Tests;

/// <summary>Helpers for tests that run the real m2m-connector executable.</summary>
internal static class ProcessSupport
{
    public static Dictionary<string, string> Ports(int btp, int http, string ledgerPath) => new()
    {
        ["BTP_SERVER_PORT"] = btp.ToString(), ["HEALTH_CHECK_PORT"] = http.ToString(),
        ["BIND_ADDRESS"] = "127.0.0.1", ["LEDGER_PATH"] = ledgerPath,
    };
}
