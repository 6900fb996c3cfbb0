using System.Globalization;

namespace M2M.Core.Progress;

/// <summary>What a unit of long work counts.</summary>
public enum WorkUnit
{
    Bytes,
    Items,
}

/// <summary>
/// Progress of long operator work (backup, verify, restore, import). A step is begun with its
/// total (0 when unknown), told how far it is, and completed; the sink decides how to show it:
/// a live bar on a terminal, periodic plain lines in logs and CI.
/// </summary>
public interface IWorkProgress
{
    IWorkStep Begin(string name, long total, WorkUnit unit);
}

public interface IWorkStep : IDisposable
{
    /// <summary>How much is done so far (absolute, not a delta); safe from any thread.</summary>
    void Report(long done);

    /// <summary>The step finished; <paramref name="done"/> is the final amount.</summary>
    void Complete(long done);
}

/// <summary>
/// Plain progress lines: one when a step begins, one at most every <c>interval</c> while it runs
/// (done, total, percent, rate, ETA), and one when it ends. For logs, CI and redirected output.
/// </summary>
public sealed class PlainProgress(Action<string> sink, TimeProvider clock, TimeSpan interval) : IWorkProgress
{
    private readonly Action<string> _sink = sink;
    private readonly TimeProvider _clock = clock;
    private readonly TimeSpan _interval = interval;

    public PlainProgress(Action<string> sink) : this(sink, TimeProvider.System, TimeSpan.FromSeconds(2)) { }

    public IWorkStep Begin(string name, long total, WorkUnit unit)
    {
        _sink(total > 0 ? $"{name}: 0 of {Amount(total, unit)}" : $"{name}: started");
        return new Step(this, name, total, unit);
    }

    private sealed class Step(PlainProgress owner, string name, long total, WorkUnit unit) : IWorkStep
    {
        private readonly long _start = owner._clock.GetTimestamp();
        private long _lastLine = owner._clock.GetTimestamp();
        private int _completed;

        public void Report(long done)
        {
            long now = owner._clock.GetTimestamp();
            long last = Interlocked.Read(ref _lastLine);
            if (owner._clock.GetElapsedTime(last, now) < owner._interval) return;
            if (Interlocked.CompareExchange(ref _lastLine, now, last) != last) return;
            owner._sink(Line(name, done, total, unit, owner._clock.GetElapsedTime(_start, now)));
        }

        public void Complete(long done)
        {
            if (Interlocked.Exchange(ref _completed, 1) == 1) return;
            var elapsed = owner._clock.GetElapsedTime(_start);
            owner._sink($"{name}: done, {Amount(done, unit)} in {Seconds(elapsed)}{Rate(done, unit, elapsed)}");
        }

        public void Dispose() { }
    }

    /// <summary>"412 MiB of 1.2 GiB (34 %), 48 MiB/s, ETA 17 s" (shared with the terminal view).</summary>
    public static string Line(string name, long done, long total, WorkUnit unit, TimeSpan elapsed)
    {
        string head = total > 0
            ? $"{name}: {Amount(done, unit)} of {Amount(total, unit)} ({Math.Min(100, done * 100 / total)} %)"
            : $"{name}: {Amount(done, unit)}";
        string eta = total > 0 && done > 0 && done < total
            ? $", ETA {Seconds(TimeSpan.FromSeconds(elapsed.TotalSeconds * (total - done) / done))}"
            : "";
        return head + Rate(done, unit, elapsed) + eta;
    }

    private static string Rate(long done, WorkUnit unit, TimeSpan elapsed) =>
        elapsed.TotalSeconds < 0.05 || done == 0 ? "" : $", {Amount((long)(done / elapsed.TotalSeconds), unit)}/s";

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString(t.TotalSeconds < 10 ? "0.0" : "0", CultureInfo.InvariantCulture) + " s";

    public static string Amount(long n, WorkUnit unit)
    {
        if (unit == WorkUnit.Items) return n.ToString("N0", CultureInfo.InvariantCulture);
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = n;
        int i = 0;
        while (v >= 1024 && i < units.Length - 1) { v /= 1024; i++; }
        return i == 0 ? $"{n} B" : v.ToString(v < 10 ? "0.0" : "0", CultureInfo.InvariantCulture) + " " + units[i];
    }
}
