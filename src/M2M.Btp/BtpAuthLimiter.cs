using System.Collections.Concurrent;

namespace M2M.Btp;

/// <summary>
/// BTP auth failure limits (RELIABILITY.md R13) that rate-limit guessing without letting a guesser
/// lock real peers out (issue 13, defect 7: keyed on the source address alone, ~10 bad tries a minute
/// from a NAT or proxy kept every peer behind it out). Failures are counted per key, in a fixed
/// window starting at the key's first failure:
/// <list type="bullet">
/// <item>(source, username) for a configured username: <see cref="MaxFailures"/> per <see cref="Window"/>;
/// then that key's attempts are refused before any token comparison until the window ends. So each
/// peer's token can be guessed at most MaxFailures times a minute from one address.</item>
/// <item>(source, any unknown username, malformed auth, auth timeout): one bucket per source, which
/// never blocks a configured username.</item>
/// <item>(username, any source): <see cref="MaxFailuresPerUser"/> per window against distributed guessing
/// (an IPv6 attacker has many addresses); it blocks that username from every source except the ones
/// it authenticated from in the last <see cref="KnownFor"/>.</item>
/// </list>
/// A key whose (source, username) authenticated recently is "known" and is blocked only for
/// <see cref="KnownBlock"/> after its latest failure, not for the rest of the window: an attacker
/// without the token who shares the peer's address and knows its username gets no more than one
/// guess per KnownBlock, and the peer is kept out for at most KnownBlock after each of them.
/// Memory is bounded: past <see cref="MaxTrackedKeys"/> keys, expired ones are dropped and, if still
/// full, new keys are not tracked (they are then limited by the auth timeout only).
/// </summary>
public sealed class BtpAuthLimiter(int maxFailures = 10, TimeSpan? window = null, TimeProvider? time = null)
{
    /// <summary>Failures allowed per key per window; 10 leaves room for a misconfigured peer to be seen in the logs, not to guess.</summary>
    public int MaxFailures { get; } = maxFailures > 0 ? maxFailures : throw new ArgumentOutOfRangeException(nameof(maxFailures), maxFailures, "Must be positive.");

    public TimeSpan Window { get; } = window ?? TimeSpan.FromMinutes(1);

    /// <summary>Failures for one username across all sources per window (distributed guessing): 10 × MaxFailures.</summary>
    public int MaxFailuresPerUser => checked(MaxFailures * 10);

    /// <summary>How long a known key stays blocked after each failure once over its budget ("a few seconds").</summary>
    public TimeSpan KnownBlock { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>A successful auth makes its (source, username) known for this long.</summary>
    public TimeSpan KnownFor { get; init; } = TimeSpan.FromHours(24);

    /// <summary>Bound on tracked keys (an IPv6 attacker has many addresses).</summary>
    public const int MaxTrackedKeys = 100_000;

    /// <summary>Bucket name for unknown usernames, malformed auth and timeouts (not a valid username: it has a NUL).</summary>
    public const string UnknownUser = "\0unknown";

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<(string Source, string User), Entry> _keys = new();
    private readonly ConcurrentDictionary<string, Entry> _users = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Source, string User), long> _known = new();
    private long _refused;
    private long _checked;
    private long _compared;

    /// <summary>Attempts refused because their key was blocked (never compared).</summary>
    public long RefusedCount => Interlocked.Read(ref _refused);

    /// <summary>Attempts let through to the credential check.</summary>
    public long CheckedCount => Interlocked.Read(ref _checked);

    /// <summary>Attempts let through with a configured username: the ones whose token is compared (R13's measure).</summary>
    public long ComparedCount => Interlocked.Read(ref _compared);

    /// <summary>Called on every refused attempt: true when refused for the key being blocked, false for a failed check.</summary>
    public Action<bool>? Refused { get; set; }

    /// <summary>The configured peer a username names (its canonical form), or null: others share the per-source unknown bucket.</summary>
    public Func<string, string?> ConfiguredUser { get; set; } = _ => null;

    /// <summary>The bucket an attempt with <paramref name="username"/> counts in.</summary>
    public string UserKey(string username) => ConfiguredUser(username) ?? UnknownUser;

    /// <summary>Source-only form (malformed auth, timeouts): the source's unknown bucket.</summary>
    public bool TryBegin(string source, out bool firstRefusal) => TryBegin(source, UnknownUser, out firstRefusal);

    /// <summary>
    /// True when <paramref name="username"/> from <paramref name="source"/> may try to authenticate now. When it may not,
    /// <paramref name="firstRefusal"/> tells whether this is the first refusal of the block (log it once).
    /// </summary>
    public bool TryBegin(string source, string username, out bool firstRefusal)
    {
        firstRefusal = false;
        string user = UserKey(username);
        bool known = IsKnown(source, user);
        if (_keys.TryGetValue((source, user), out var entry) && Blocks(entry, known, out firstRefusal)
            || !known && user != UnknownUser && _users.TryGetValue(user, out var all) && BlocksUser(all, out firstRefusal))
        {
            Interlocked.Increment(ref _refused);
            Refused?.Invoke(true);
            return false;
        }
        Interlocked.Increment(ref _checked);
        if (user != UnknownUser) Interlocked.Increment(ref _compared);
        return true;
    }

    /// <summary>Source-only form: counts in the source's unknown bucket.</summary>
    public void RecordFailure(string source) => RecordFailure(source, UnknownUser);

    /// <summary>Counts a failed attempt (wrong credentials, malformed auth) of <paramref name="username"/> from <paramref name="source"/>.</summary>
    public void RecordFailure(string source, string username)
    {
        Refused?.Invoke(false);
        string user = UserKey(username);
        Count(_keys, (source, user));
        if (user != UnknownUser) Count(_users, user);
    }

    /// <summary>An auth timeout (an idle socket) counts like a failure in the source's unknown bucket, silently.</summary>
    public void RecordTimeout(string source) => Count(_keys, (source, UnknownUser));

    /// <summary>True while the source's unknown bucket is over its budget (its new connections get a shorter auth timeout).</summary>
    public bool UnderPressure(string source) =>
        _keys.TryGetValue((source, UnknownUser), out var e) && !Expired(e) && e.Failures >= MaxFailures;

    /// <summary>A successful auth: the (source, username) is known from now on for <see cref="KnownFor"/>.</summary>
    public void RecordSuccess(string source, string username)
    {
        username = UserKey(username);
        if (_known.Count >= MaxTrackedKeys && !_known.ContainsKey((source, username))) PruneKnown();
        if (_known.Count < MaxTrackedKeys || _known.ContainsKey((source, username))) _known[(source, username)] = _time.GetTimestamp();
    }

    /// <summary>Failures counted for the source's unknown bucket in its current window.</summary>
    public int FailuresOf(string source) => FailuresOf(source, UnknownUser);

    /// <summary>Failures counted for (source, username) in its current window.</summary>
    public int FailuresOf(string source, string username) =>
        _keys.TryGetValue((source, UserKey(username)), out var e) && !Expired(e) ? e.Failures : 0;

    private bool IsKnown(string source, string user) =>
        user != UnknownUser && _known.TryGetValue((source, user), out long at) && _time.GetElapsedTime(at) < KnownFor;

    private bool Blocks(Entry e, bool known, out bool first)
    {
        first = false;
        lock (e)
        {
            if (e.Failures < MaxFailures || Expired(e)) return false;
            if (known && _time.GetElapsedTime(e.LastFailureAt) >= KnownBlock) return false;
            first = !e.Announced;
            e.Announced = true;
            return true;
        }
    }

    private bool BlocksUser(Entry e, out bool first)
    {
        first = false;
        lock (e)
        {
            if (e.Failures < MaxFailuresPerUser || Expired(e)) return false;
            first = !e.Announced;
            e.Announced = true;
            return true;
        }
    }

    private void Count<TKey>(ConcurrentDictionary<TKey, Entry> map, TKey key) where TKey : notnull
    {
        if (!map.ContainsKey(key) && map.Count >= MaxTrackedKeys) Prune(map);
        if (!map.ContainsKey(key) && map.Count >= MaxTrackedKeys) return;
        var entry = map.GetOrAdd(key, _ => new Entry(_time.GetTimestamp()));
        lock (entry)
        {
            long now = _time.GetTimestamp();
            if (Expired(entry)) entry.Reset(now);
            entry.Failures++;
            entry.LastFailureAt = now;
        }
    }

    private bool Expired(Entry e) => _time.GetElapsedTime(e.StartedAt) >= Window;

    private void Prune<TKey>(ConcurrentDictionary<TKey, Entry> map) where TKey : notnull
    {
        foreach (var (key, entry) in map)
            if (Expired(entry)) map.TryRemove(key, out _);
    }

    private void PruneKnown()
    {
        foreach (var (key, at) in _known)
            if (_time.GetElapsedTime(at) >= KnownFor) _known.TryRemove(key, out _);
    }

    private sealed class Entry(long startedAt)
    {
        public long StartedAt = startedAt;
        public long LastFailureAt = startedAt;
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
