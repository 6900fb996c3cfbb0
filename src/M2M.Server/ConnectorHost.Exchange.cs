using M2M.Core.Switch;
using M2M.Server.Exchange;

namespace M2M.Server;

/// <summary>Exchange rates (rates, spread, rateSource): the switch's exchange step and the rate source's poller.</summary>
public sealed partial class ConnectorHost
{
    /// <summary>The rates the switch converts with; null when none are configured (packets between assets then get F02).</summary>
    public ExchangeRates? Exchange { get; private set; }

    /// <summary>Polls rateSource.url; null without a rate source.</summary>
    public RateSourcePoller? RateSource { get; private set; }

    /// <summary>No step at all without rates: same-asset traffic pays nothing for the feature.</summary>
    private IPacketStep[] CreateExchangeStep(SwitchOptions options)
    {
        var config = _settings.Exchange;
        if (!config.Enabled) return [];
        // Configured rates never go stale on their own; with a rate source they stand in until its first
        // answer and age like fetched rates from start-up, so a source that never answers ends in T00.
        RateTable? initial = config.Rates.Count == 0 ? null
            : new RateTable(config.Rates, config.Source is null ? null : _time.GetUtcNow(), "the configured rates");
        Exchange = new ExchangeRates(config.Spread, config.Source?.MaxAge, _time, initial);
        if (config.Source is not null)
            RateSource = new RateSourcePoller(config.Source, Exchange, _time, _loggers.CreateLogger("M2M.Exchange"));
        return [new ExchangeStep(options, Exchange, Peers.Describe)];
    }
}
