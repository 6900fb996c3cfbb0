using System.Text.Json;
using System.Text.Json.Serialization;

namespace M2M.LoadGen;

/// <summary>One RSS sample of the target process, seconds since the measured phase began.</summary>
public sealed record RssSample(double Seconds, long RssKb);

/// <summary>What a run measured; printed as a table and as one JSON line.</summary>
public sealed record LoadReport
{
    public required string Label { get; init; }
    public long Sent { get; init; }
    public long Fulfilled { get; init; }
    public long Rejected { get; init; }
    public IReadOnlyDictionary<string, long> RejectCodes { get; init; } = new Dictionary<string, long>();
    /// <summary>One example message per reject code, to tell a misconfiguration from load.</summary>
    public IReadOnlyDictionary<string, string> FirstRejectMessages { get; init; } = new Dictionary<string, string>();
    /// <summary>No ILP reply: BTP errors, closed sessions, time cap (by exception type).</summary>
    public IReadOnlyDictionary<string, long> Errors { get; init; } = new Dictionary<string, long>();
    public long Unsent { get; init; }
    public int Concurrency { get; init; }
    public double Rate { get; init; }
    public double ElapsedSeconds { get; init; }
    public double PacketsPerSecond { get; init; }
    public double P50Ms { get; init; }
    public double P90Ms { get; init; }
    public double P99Ms { get; init; }
    public double MaxMs { get; init; }
    public bool HitTimeCap { get; init; }
    public int? Pid { get; init; }
    public double? CpuSeconds { get; init; }
    [JsonPropertyName("cpu_seconds_per_100k")]
    public double? CpuSecondsPer100k { get; init; }
    /// <summary>The load generator's own CPU (sender and receiver, this process) over the measured phase.</summary>
    public double? LoadGenCpuSeconds { get; init; }
    public double? LoadGenCpuMicrosPerPacket { get; init; }
    /// <summary>The target's CPU per answered packet, µs (the same figure as <see cref="CpuSecondsPer100k"/> × 10).</summary>
    public double? CpuMicrosPerPacket => CpuSecondsPer100k * 10;
    public long? RssStartKb { get; init; }
    public long? RssEndKb { get; init; }
    public long? PeakRssKb { get; init; }
    public double? RssGrowthPercent { get; init; }
    public IReadOnlyList<RssSample> RssSamples { get; init; } = [];
    public string LoadAverageStart { get; init; } = "";
    public string LoadAverageEnd { get; init; } = "";
    public int Cores { get; init; } = Environment.ProcessorCount;

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public void Print(TextWriter w)
    {
        w.WriteLine($"{Label}: {Sent:N0} packets in {ElapsedSeconds:F2} s = {PacketsPerSecond:N0} packets/s (concurrency {Concurrency}{(Rate > 0 ? $", rate cap {Rate:N0}/s" : "")}){(HitTimeCap ? " — STOPPED BY THE TIME CAP" : "")}");
        w.WriteLine($"  round trip ms: p50 {P50Ms:F2}  p90 {P90Ms:F2}  p99 {P99Ms:F2}  max {MaxMs:F2}");
        w.WriteLine($"  fulfilled {Fulfilled:N0}, rejected {Rejected:N0}{Codes(RejectCodes)}, errors {Errors.Values.Sum():N0}{Codes(Errors)}, unsent {Unsent:N0}");
        foreach (var (code, message) in FirstRejectMessages) w.WriteLine($"  first {code}: {message}");
        if (Pid is not null)
            w.WriteLine($"  pid {Pid}: CPU {CpuSeconds:F2} s ({CpuSecondsPer100k:F2} s per 100k packets), RSS {RssStartKb / 1024.0:F1} → {RssEndKb / 1024.0:F1} MiB, peak {PeakRssKb / 1024.0:F1} MiB{(RssGrowthPercent is { } g ? $", growth {g:F1} %" : "")}");
        if (LoadGenCpuMicrosPerPacket is { } own) w.WriteLine($"  load generator (sender + receiver): CPU {LoadGenCpuSeconds:F2} s = {own:F1} µs per packet");
        w.WriteLine($"  load average {LoadAverageStart} → {LoadAverageEnd} on {Cores} cores");
    }

    private static string Codes(IReadOnlyDictionary<string, long> counts) =>
        counts.Count == 0 ? "" : " (" + string.Join(", ", counts.OrderBy(c => c.Key).Select(c => $"{c.Key}: {c.Value:N0}")) + ")";
}
