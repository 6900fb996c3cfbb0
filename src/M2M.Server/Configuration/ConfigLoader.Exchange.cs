using System.Globalization;

namespace M2M.Server.Configuration;

/// <summary>rateSource: an HTTP document of rates, polled (see docs/network.md, "Exchange rates").</summary>
public sealed class RateSourceSection
{
    public string? Url { get; set; }
    public string? IntervalSeconds { get; set; }
    public string? MaxAgeSeconds { get; set; }
    public string? TimeoutSeconds { get; set; }
}

/// <summary>
/// Exchange between peers of different assets: each asset code's value in a common base, the spread
/// the connector keeps, and an optional rate source that replaces the configured rates while it answers.
/// </summary>
public sealed record ExchangeSettings
{
    public IReadOnlyDictionary<string, decimal> Rates { get; init; } = new Dictionary<string, decimal>(StringComparer.Ordinal);
    public decimal Spread { get; init; }
    public RateSourceSettings? Source { get; init; }

    /// <summary>False: no rates and no source; packets between different assets keep getting F02 and no exchange step runs.</summary>
    public bool Enabled => Rates.Count > 0 || Source is not null;
}

public sealed record RateSourceSettings(Uri Url, TimeSpan Interval, TimeSpan MaxAge, TimeSpan Timeout);

public sealed partial class ConfigLoader
{
    /// <summary>Longest asset code accepted in rates (ILDCP carries a UTF-8 string; real codes are 3–5 letters).</summary>
    private const int MaxAssetCodeLength = 16;

    private ExchangeSettings BuildExchange(ConfigFile f, IReadOnlyList<PeerSettings> peers)
    {
        var rates = new Dictionary<string, decimal>(StringComparer.Ordinal);
        foreach (var (code, value) in f.Rates ?? [])
        {
            if (!IsAssetCode(code)) Error($"rates.{code}", code, $"an asset code of 1 to {MaxAssetCodeLength} letters, digits or '_-.' as the key");
            else if (ParseRate(value) is { } rate) rates[code] = rate;
            else Error($"rates.{code}", value ?? "", "a positive number: the value of one unit of this asset in the common base (e.g. 0.5)");
        }
        decimal spread = 0;
        if (f.Spread is { } s && (!decimal.TryParse(s.Trim(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out spread) || spread >= 1))
        {
            Error("spread", s, "a fraction from 0 to below 1 kept by the connector on each conversion (e.g. 0.002 for 0.2 %)");
            spread = 0;
        }
        var source = BuildRateSource(f.RateSource);
        var exchange = new ExchangeSettings { Rates = rates, Spread = spread, Source = source };
        if (exchange.Enabled && source is null) WarnUnpricedPeers(rates, peers);
        else if (!exchange.Enabled && peers.Select(p => p.AssetCode).Distinct(StringComparer.Ordinal).Count() > 1)
            _warnings.Add("peers have different asset codes but no rates are configured: packets between them get F02 (set rates, or rateSource)");
        return exchange;
    }

    private RateSourceSettings? BuildRateSource(RateSourceSection? r)
    {
        if (r is null) return null;
        Uri? url = null;
        if (r.Url is null || !Uri.TryCreate(r.Url.Trim(), UriKind.Absolute, out url) || url.Scheme is not ("http" or "https") || string.IsNullOrEmpty(url.Host))
            Error("rateSource.url", r.Url ?? "", "an http:// or https:// URL that answers {\"base\": \"USD\", \"rates\": {\"XRP\": 0.5}}");
        var interval = TimeSpan.FromSeconds(UInt("rateSource.intervalSeconds", r.IntervalSeconds, 60, 1, 86_400));
        var maxAge = TimeSpan.FromSeconds(UInt("rateSource.maxAgeSeconds", r.MaxAgeSeconds, (ulong)Math.Max(600, interval.TotalSeconds * 3), 1, 31_536_000));
        var timeout = TimeSpan.FromSeconds(UInt("rateSource.timeoutSeconds", r.TimeoutSeconds, 10, 1, 300));
        if (maxAge <= interval)
            Error("rateSource.maxAgeSeconds", r.MaxAgeSeconds ?? "", $"more than rateSource.intervalSeconds ({interval.TotalSeconds:F0}): rates would go stale between two polls");
        return url is null ? null : new RateSourceSettings(url, interval, maxAge, timeout);
    }

    /// <summary>With static rates, a peer whose asset has no rate can only reach peers of its own asset: say so once.</summary>
    private void WarnUnpricedPeers(Dictionary<string, decimal> rates, IReadOnlyList<PeerSettings> peers)
    {
        if (peers.Select(p => p.AssetCode).Distinct(StringComparer.Ordinal).Count() < 2) return;
        foreach (var code in peers.Select(p => p.AssetCode).Distinct(StringComparer.Ordinal).Where(c => !rates.ContainsKey(c)))
            _warnings.Add($"rates has no rate for {code} (peers {string.Join(", ", peers.Where(p => p.AssetCode == code).Select(p => p.Id))}): packets between them and peers of other assets get F02");
    }

    internal static decimal? ParseRate(string? value) =>
        value is not null && decimal.TryParse(value.Trim(), NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out var rate) && rate > 0 ? rate : null;

    internal static bool IsAssetCode(string code) =>
        code.Length is > 0 and <= MaxAssetCodeLength && code.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');
}
