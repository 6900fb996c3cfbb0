using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using M2M.Core.Ilp;

namespace M2M.LoadGen;

/// <summary>Hands out packet slots and records each outcome and round trip (one preallocated array, no locks on the path).</summary>
public sealed class Recorder(long packets)
{
    private readonly double[] _latencyMs = new double[packets];
    private readonly bool[] _done = new bool[packets];
    private readonly ConcurrentDictionary<string, long> _rejects = new();
    private readonly ConcurrentDictionary<string, long> _errors = new();
    private readonly ConcurrentDictionary<string, string> _firstMessages = new();
    private long _taken;
    private long _fulfilled;

    public bool TryTake(out long slot)
    {
        slot = Interlocked.Increment(ref _taken) - 1;
        return slot < packets;
    }

    public void Reply(long slot, ReadOnlySpan<byte> reply, TimeSpan elapsed)
    {
        Record(slot, elapsed);
        if (reply.Length > 0 && reply[0] == (byte)IlpPacketType.Fulfill)
        {
            Interlocked.Increment(ref _fulfilled);
            return;
        }
        var reject = IlpCodec.TryDecode(reply.ToArray(), out var packet, out _) == OperationStatus.Done ? packet as IlpReject : null;
        string code = reject?.Code ?? "invalid_reply";
        _rejects.AddOrUpdate(code, 1, (_, n) => n + 1);
        _firstMessages.TryAdd(code, reject is null ? "not a Fulfill or Reject" : $"{reject.Message} (by {reject.TriggeredBy})");
    }

    public void Error(long slot, string kind, TimeSpan elapsed)
    {
        Record(slot, elapsed);
        _errors.AddOrUpdate(kind, 1, (_, n) => n + 1);
    }

    private void Record(long slot, TimeSpan elapsed)
    {
        _latencyMs[slot] = elapsed.TotalMilliseconds;
        _done[slot] = true;
    }

    public LoadReport Report(LoadOptions o, TimeSpan elapsed, bool hitCap, double? cpuSeconds, RssSampler rss, string loadStart)
    {
        var latencies = _latencyMs.Where((_, i) => _done[i]).ToArray();
        Array.Sort(latencies);
        long sent = latencies.Length;
        return new LoadReport
        {
            Label = o.Label,
            Sent = sent,
            Fulfilled = Interlocked.Read(ref _fulfilled),
            Rejected = _rejects.Values.Sum(),
            RejectCodes = new SortedDictionary<string, long>(_rejects),
            Errors = new SortedDictionary<string, long>(_errors),
            FirstRejectMessages = new SortedDictionary<string, string>(_firstMessages),
            Unsent = packets - sent,
            Concurrency = o.Concurrency,
            Rate = o.Rate,
            ElapsedSeconds = Math.Round(elapsed.TotalSeconds, 3),
            PacketsPerSecond = Math.Round(sent / Math.Max(elapsed.TotalSeconds, 1e-9), 1),
            P50Ms = Percentile(latencies, 0.50),
            P90Ms = Percentile(latencies, 0.90),
            P99Ms = Percentile(latencies, 0.99),
            MaxMs = latencies.Length == 0 ? 0 : Math.Round(latencies[^1], 3),
            HitTimeCap = hitCap,
            Pid = o.Pid,
            CpuSeconds = cpuSeconds is { } c ? Math.Round(c, 2) : null,
            CpuSecondsPer100k = cpuSeconds is { } cs && sent > 0 ? Math.Round(cs * 100_000 / sent, 2) : null,
            RssStartKb = rss.Samples.FirstOrDefault()?.RssKb,
            RssEndKb = rss.Samples.LastOrDefault()?.RssKb,
            PeakRssKb = rss.PeakKb,
            RssGrowthPercent = rss.GrowthPercent(o.DurationSeconds),
            RssSamples = rss.Samples,
            LoadAverageStart = loadStart,
            LoadAverageEnd = ProcessProbe.LoadAverage(),
        };
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    public static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : Math.Round(sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)], 3);
}

/// <summary>Open-loop pacing: slot n may start at n / rate seconds after the first.</summary>
public sealed class Pacer(double rate)
{
    private readonly long _start = Stopwatch.GetTimestamp();

    /// <summary>False when <paramref name="stop"/> fired while waiting.</summary>
    public async ValueTask<bool> WaitTurnAsync(long slot, CancellationToken stop)
    {
        if (rate <= 0) return true;
        var due = TimeSpan.FromSeconds(slot / rate) - Stopwatch.GetElapsedTime(_start);
        if (due <= TimeSpan.Zero) return true;
        try
        {
            await Task.Delay(due, stop).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}

/// <summary>Samples the target's RSS during the measured phase (and once at its start and end).</summary>
public sealed class RssSampler(int? pid, TimeSpan interval, TextWriter log)
{
    private readonly List<RssSample> _samples = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public IReadOnlyList<RssSample> Samples => _samples;
    public long? PeakKb { get; private set; }

    public async Task RunAsync(CancellationToken stop)
    {
        if (pid is null) return;
        Sample();
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                if (Sample() is { } s) log.WriteLine($"  t={s.Seconds,6:F0} s  RSS {s.RssKb / 1024.0:F1} MiB");
            }
        }
        catch (OperationCanceledException)
        {
        }
        Sample();
    }

    private RssSample? Sample()
    {
        if (ProcessProbe.Memory(pid!.Value) is not { } m) return null;
        var s = new RssSample(Math.Round(_clock.Elapsed.TotalSeconds, 1), m.RssKb);
        _samples.Add(s);
        PeakKb = m.HwmKb;
        return s;
    }

    /// <summary>
    /// Growth from the first sample after the warm-up fifth of the run (at most 60 s: JIT, pools and
    /// the SQLite page cache fill first) to the last sample. Null outside --duration mode.
    /// </summary>
    public double? GrowthPercent(double durationSeconds)
    {
        if (durationSeconds <= 0 || _samples.Count < 2) return null;
        double settle = Math.Min(60, durationSeconds / 5);
        var baseline = _samples.FirstOrDefault(s => s.Seconds >= settle) ?? _samples[0];
        return Math.Round(100.0 * (_samples[^1].RssKb - baseline.RssKb) / baseline.RssKb, 1);
    }
}
