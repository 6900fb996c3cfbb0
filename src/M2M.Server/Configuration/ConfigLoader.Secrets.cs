using System.Net;

namespace M2M.Server.Configuration;

// The examples and .env.example carry placeholder secrets so a first run works; anyone who read
// them knows those values. A placeholder is refused where others can reach the node: outside
// development, or when a listener is bound beyond loopback. The value itself is never echoed.
public sealed partial class ConfigLoader
{
    /// <summary>Prefixes of the placeholder secrets shipped in examples/ and .env.example.</summary>
    internal static readonly string[] PlaceholderPrefixes = ["change-me", "dev-secret"];

    private const string GenerateHint = "a long random string (e.g. openssl rand -hex 32)";

    private void RefusePlaceholderSecrets(ConnectorSettings s)
    {
        string? exposure = s.Environment != DeploymentEnvironment.Development ? $"ENVIRONMENT is {s.Environment.ConfigName()}"
            : !IsLoopback(s.BindAddress) ? $"BIND_ADDRESS {s.BindAddress} accepts other hosts"
            : null;
        if (exposure is null) return;
        foreach (var p in s.Peers)
        {
            if (IsPlaceholder(p.AuthToken))
                PlaceholderError(p.Url is null ? $"peer '{p.Id}' secret ({SecretVariable(p.Id)} or authToken)" : $"peer '{p.Id}' authToken", exposure);
        }
        if (IsPlaceholder(s.AdminApiToken)) PlaceholderError("ADMIN_API_TOKEN", exposure);
        if (IsPlaceholder(s.Wallet.Password)) PlaceholderError("WALLET_PASSWORD", exposure);
    }

    private void PlaceholderError(string what, string exposure) =>
        _errors.Add($"{what}: the example's well-known placeholder secret is refused because {exposure}; expected {GenerateHint}");

    internal static bool IsPlaceholder(string? secret) =>
        secret is not null && PlaceholderPrefixes.Any(p => secret.StartsWith(p, StringComparison.OrdinalIgnoreCase));

    private static bool IsLoopback(string bindAddress) =>
        bindAddress == "localhost" || (IPAddress.TryParse(bindAddress, out var ip) && IPAddress.IsLoopback(ip));
}
