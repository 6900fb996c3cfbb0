using M2M.Core.Switch;

namespace M2M.Server.Configuration;

/// <summary>peers[].limits: per-peer traffic caps (all optional; absent means no cap).</summary>
public sealed class PeerLimitsSection
{
    public string? PacketsPerSecond { get; set; }
    public string? Burst { get; set; }
    public string? MaxInFlight { get; set; }
    public string? MaxInFlightValue { get; set; }
}

public sealed partial class ConfigLoader
{
    // Upper bounds: far above what one connector can carry (≈ 10^4 packets/s), low enough to catch a typo.
    private const ulong MaxPacketsPerSecond = 1_000_000;
    private const ulong MaxInFlightPackets = 1_000_000;

    private PeerLimits? BuildPeerLimits(PeerLimitsSection? l, string key)
    {
        if (l is null) return null;
        key += ".limits";
        ulong? rate = l.PacketsPerSecond is null ? null : UInt($"{key}.packetsPerSecond", l.PacketsPerSecond, 1, 1, MaxPacketsPerSecond);
        ulong? burst = l.Burst is null ? null : UInt($"{key}.burst", l.Burst, 1, 1, MaxPacketsPerSecond);
        if (burst is not null && rate is null)
            Error($"{key}.burst", l.Burst!, "no burst without packetsPerSecond (the burst is the token bucket's size)");
        ulong? inFlight = l.MaxInFlight is null ? null : UInt($"{key}.maxInFlight", l.MaxInFlight, 1, 1, MaxInFlightPackets);
        ulong? value = l.MaxInFlightValue is null ? null : UInt($"{key}.maxInFlightValue", l.MaxInFlightValue, 1, 1, ulong.MaxValue);
        var limits = new PeerLimits { PacketsPerSecond = rate, Burst = burst, MaxInFlight = (int?)inFlight, MaxInFlightValue = value };
        return limits.IsEmpty ? null : limits;
    }
}
