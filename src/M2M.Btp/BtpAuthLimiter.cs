using System.Collections.Concurrent;

namespace M2M.Btp;

/// <summary>
/// Per-source BTP auth failure limit (RELIABILITY.md R13): once a source address has failed
/// <see cref="MaxFailures"/> times within <see cref="Window"/>, its further attempts are refused
/// before any token comparison until the window ends. A fixed window starting at the first
/// failure: simple, and the worst case is 2 × MaxFailures guesses per window.
/// Memory is bounded: past <see cref="MaxTrackedSources"/> sources, expired entries are dropped
/// and, if still full, new sources are not tracked (they are then limited only by the auth timeout).
/// </summary>
public sealed class BtpAuthLimiter(int maxFailures = 10, TimeSpan? window = null, TimeProvider? time = null)
{
    /// <summary>Failures allowed per source per window; 10 leaves room for a misconfigured peer to be seen in the logs, not to guess.</summary>
    public int MaxFailures { get; } = maxFailures > 0 ? maxFailures : throw new ArgumentOutOfRangeException(nameof(maxFailures), maxFailures, "Must be positive.");

    public TimeSpan Window { get; } = window ?? TimeSpan.FromMinutes(1);

    /// <summary>Bound on tracked addresses (an IPv6 attacker has many).</summary>
    public const int MaxTrackedSources = 100_000;

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<string, Entry> _sources = new(StringComparer.Ordinal);
    private long _refused;
    private long _checked;

    /// <summary>Attempts refused because their source was blocked (never compared).</summary>
    public long RefusedCount => Interlocked.Read(ref _refused);

    /// <summary>Attempts let through to the credential check.</summary>
    public long CheckedCount => Interlocked.Read(ref _checked);

    /// <summary>Called on every refused attempt: true when refused for the source being blocked, false for a failed check.</summary>
    public Action<bool>? Refused { get; set; }

    /// <summary>
    /// True when <paramref name="source"/> may try to authenticate now. When it may not,
    /// <paramref name="firstRefusal"/> tells whether this is the first refusal of the block (log it once).
    /// </summary>
    public bool TryBegin(string source, out bool firstRefusal)
    {
        firstRefusal = false;
        if (_sources.TryGetValue(source, out var entry))
        {
            lock (entry)
            {
                if (entry.Failures >= MaxFailures && !Expired(entry))
                {
                    firstRefusal = !entry.Announced;
                    entry.Announced = true;
                    Interlocked.Increment(ref _refused);
                    Refused?.Invoke(true);
                    return false;
                }
            }
        }
        Interlocked.Increment(ref _checked);
        return true;
    }

    /// <summary>Counts a failed attempt (wrong credentials, malformed auth) from <paramref name="source"/>.</summary>
    public void RecordFailure(string source)
    {
        Refused?.Invoke(false);
        if (!_sources.ContainsKey(source) && _sources.Count >= MaxTrackedSources) Prune();
        if (!_sources.ContainsKey(source) && _sources.Count >= MaxTrackedSources) return;
        var entry = _sources.GetOrAdd(source, _ => new Entry(_time.GetTimestamp()));
        lock (entry)
        {
            if (Expired(entry)) entry.Reset(_time.GetTimestamp());
            entry.Failures++;
        }
    }

    /// <summary>Failures counted for the source in its current window.</summary>
    public int FailuresOf(string source) => _sources.TryGetValue(source, out var e) && !Expired(e) ? e.Failures : 0;

    private bool Expired(Entry e) => _time.GetElapsedTime(e.StartedAt) >= Window;

    private void Prune()
    {
        foreach (var (key, entry) in _sources)
            if (Expired(entry)) _sources.TryRemove(key, out _);
    }

    private sealed class Entry(long startedAt)
    {
        public long StartedAt = startedAt;
        public int Failures;
        public bool Announced;

        public void Reset(long now)
        {
            StartedAt = now;
            Failures = 0;
            Announced = false;
        }
    }
}
