namespace M2M.Server.Explorer;

/// <summary>
/// The dashboard's packet figures over the last minute, kept by the feed's pump (off the packet path):
/// a count and a fulfill count per second for 60 s, and the latencies of the last
/// <see cref="LatencySamples"/> packets for the p99. Events the feed dropped under overload are not
/// in these figures (the dashboard shows the dropped count beside them).
/// </summary>
public sealed class ExplorerStats(TimeProvider time)
{
    public const int WindowSeconds = 60;
    /// <summary>Seconds the packets/s figure is averaged over (the current, partial second is left out).</summary>
    public const int RateSeconds = 10;
    public const int LatencySamples = 8192;

    private readonly Lock _lock = new();
    private readonly long[] _second = new long[WindowSeconds];
    private readonly int[] _total = new int[WindowSeconds];
    private readonly int[] _fulfilled = new int[WindowSeconds];
    private readonly (long Second, double Ms)[] _latencies = new (long, double)[LatencySamples];
    private int _latencyNext;

    public void Add(DateTimeOffset at, bool fulfilled, double latencyMs)
    {
        long second = at.ToUnixTimeSeconds();
        int i = (int)(second % WindowSeconds);
        lock (_lock)
        {
            if (_second[i] != second)
            {
                _second[i] = second;
                _total[i] = 0;
                _fulfilled[i] = 0;
            }
            _total[i]++;
            if (fulfilled) _fulfilled[i]++;
            _latencies[_latencyNext] = (second, latencyMs);
            _latencyNext = (_latencyNext + 1) % LatencySamples;
        }
    }

    public PacketFigures Snapshot()
    {
        long now = time.GetUtcNow().ToUnixTimeSeconds();
        long total = 0, fulfilled = 0, recent = 0;
        var latencies = new List<double>();
        lock (_lock)
        {
            for (int i = 0; i < WindowSeconds; i++)
            {
                long age = now - _second[i];
                if (age < 0 || age >= WindowSeconds) continue;
                total += _total[i];
                fulfilled += _fulfilled[i];
                if (age is >= 1 and <= RateSeconds) recent += _total[i];
            }
            foreach (var (second, ms) in _latencies)
                if (second > 0 && now - second is >= 0 and < WindowSeconds) latencies.Add(ms);
        }
        latencies.Sort();
        double? p99 = latencies.Count == 0 ? null : latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(latencies.Count * 0.99) - 1)];
        return new PacketFigures(
            PacketsPerSecond: Math.Round((double)recent / RateSeconds, 2),
            SuccessRate: total == 0 ? null : Math.Round((double)fulfilled / total, 4),
            P99LatencyMs: p99,
            PacketsLastMinute: total);
    }
}

/// <summary>The dashboard's packet figures: rate over the last 10 full seconds, success rate and p99 over the last minute (null when no packet).</summary>
public sealed record PacketFigures(double PacketsPerSecond, double? SuccessRate, double? P99LatencyMs, long PacketsLastMinute);
