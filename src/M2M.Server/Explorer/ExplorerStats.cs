using System.Buffers.Binary;

namespace M2M.Server.Explorer;

/// <summary>
/// The dashboard's packet figures over the last minute, kept by the feed's pump (off the packet path)
/// from every answered packet, sampled or not: per second a count, a fulfill count, how many were
/// stored as events, and a latency histogram (<see cref="LatencyHistogram"/>) for the p99. Packets the
/// feed dropped under overload are not in these figures (the dashboard shows the dropped count beside them).
/// </summary>
public sealed class ExplorerStats(TimeProvider time)
{
    public const int WindowSeconds = 60;
    /// <summary>Seconds the packets/s figure is averaged over (the current, partial second is left out).</summary>
    public const int RateSeconds = 10;

    private readonly Lock _lock = new();
    private readonly long[] _second = new long[WindowSeconds];
    private readonly long[] _total = new long[WindowSeconds];
    private readonly long[] _fulfilled = new long[WindowSeconds];
    private readonly long[] _stored = new long[WindowSeconds];
    private readonly int[][] _latency = [.. Enumerable.Range(0, WindowSeconds).Select(_ => new int[LatencyHistogram.Buckets])];

    /// <summary>One answered packet: the second it was answered in (Unix), its outcome, its latency bucket, and whether it was stored as an event.</summary>
    public void Add(long second, bool fulfilled, int latencyBucket, bool stored)
    {
        lock (_lock)
        {
            int i = Slot(second);
            _total[i]++;
            if (fulfilled) _fulfilled[i]++;
            if (stored) _stored[i]++;
            _latency[i][latencyBucket]++;
        }
    }

    /// <summary>Adds stored per-second aggregates (the last minute read back from explorer.db at start, so the dashboard survives a restart).</summary>
    public void Add(IEnumerable<PacketSecond> seconds)
    {
        lock (_lock)
        {
            foreach (var s in seconds)
            {
                int i = Slot(s.Second);
                _total[i] += s.Fulfilled + s.Rejected;
                _fulfilled[i] += s.Fulfilled;
                _stored[i] += s.Stored;
                for (int b = 0; b < LatencyHistogram.Buckets; b++) _latency[i][b] += s.Latency[b];
            }
        }
    }

    private int Slot(long second)
    {
        int i = (int)(second % WindowSeconds);
        if (_second[i] != second)
        {
            _second[i] = second;
            _total[i] = _fulfilled[i] = _stored[i] = 0;
            Array.Clear(_latency[i]);
        }
        return i;
    }

    /// <summary>The current second (Unix).</summary>
    public long Now => time.GetUtcNow().ToUnixTimeSeconds();

    public PacketFigures Snapshot()
    {
        long now = Now;
        long total = 0, fulfilled = 0, stored = 0, recent = 0;
        var latency = new int[LatencyHistogram.Buckets];
        lock (_lock)
        {
            for (int i = 0; i < WindowSeconds; i++)
            {
                long age = now - _second[i];
                if (age < 0 || age >= WindowSeconds) continue;
                total += _total[i];
                fulfilled += _fulfilled[i];
                stored += _stored[i];
                if (age is >= 1 and <= RateSeconds) recent += _total[i];
                for (int b = 0; b < LatencyHistogram.Buckets; b++) latency[b] += _latency[i][b];
            }
        }
        return new PacketFigures(
            PacketsPerSecond: Math.Round((double)recent / RateSeconds, 2),
            SuccessRate: total == 0 ? null : Math.Round((double)fulfilled / total, 4),
            P99LatencyMs: LatencyHistogram.Quantile(latency, 0.99),
            PacketsLastMinute: total,
            StoredLastMinute: stored);
    }
}

/// <summary>
/// The dashboard's packet figures: rate over the last 10 full seconds, success rate and p99 over the last minute (null when no packet),
/// and how many of the last minute's packets were stored as events (the rest were counted only: see the sampling in <see cref="ExplorerFeed"/>).
/// </summary>
public sealed record PacketFigures(double PacketsPerSecond, double? SuccessRate, double? P99LatencyMs, long PacketsLastMinute, long StoredLastMinute);

/// <summary>
/// Exact per-second packet counts for one pair of peers (<see cref="PeerOut"/> is empty when the packet had no next hop):
/// every answered packet is counted, whether or not it was stored as an event. <see cref="Latency"/> is a <see cref="LatencyHistogram"/>.
/// </summary>
public sealed record PacketSecond(long Second, string PeerIn, string PeerOut, long Fulfilled, long Rejected, long Stored, int[] Latency);

/// <summary>
/// Latencies in logarithmic buckets, 8 per doubling from 1 µs (bucket i holds latencies below 2^((i+1)/8) µs), 256 buckets up to
/// about 71 minutes: a quantile read from it is within 9 % of the true value. Stored as (bucket byte, count uint32) pairs for the non-empty buckets.
/// </summary>
public static class LatencyHistogram
{
    public const int Buckets = 256;

    public static int Bucket(TimeSpan latency)
    {
        double us = latency.Ticks / (double)TimeSpan.TicksPerMicrosecond;
        return us < 1 ? 0 : Math.Min(Buckets - 1, (int)(Math.Log2(us) * 8));
    }

    /// <summary>The upper end of bucket <paramref name="bucket"/>, in milliseconds (3 decimals).</summary>
    public static double UpperMs(int bucket) => Math.Round(Math.Pow(2, (bucket + 1) / 8.0) / 1000, 3);

    /// <summary>The <paramref name="q"/> quantile (0–1) as a bucket's upper end in ms; null when empty.</summary>
    public static double? Quantile(ReadOnlySpan<int> counts, double q)
    {
        long total = 0;
        foreach (int c in counts) total += c;
        if (total == 0) return null;
        long rank = Math.Max(1, (long)Math.Ceiling(total * q)), seen = 0;
        for (int b = 0; b < counts.Length; b++)
        {
            seen += counts[b];
            if (seen >= rank) return UpperMs(b);
        }
        return UpperMs(counts.Length - 1);
    }

    public static byte[] Encode(ReadOnlySpan<int> counts)
    {
        int used = 0;
        foreach (int c in counts) if (c != 0) used++;
        var bytes = new byte[used * 5];
        int at = 0;
        for (int b = 0; b < counts.Length; b++)
        {
            if (counts[b] == 0) continue;
            bytes[at] = (byte)b;
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at + 1), counts[b]);
            at += 5;
        }
        return bytes;
    }

    /// <summary>Adds an encoded histogram into <paramref name="into"/>.</summary>
    public static void Decode(ReadOnlySpan<byte> bytes, Span<int> into)
    {
        for (int at = 0; at + 5 <= bytes.Length; at += 5)
            into[bytes[at]] += BinaryPrimitives.ReadInt32LittleEndian(bytes[(at + 1)..]);
    }
}
