using M2M.Core.Switch;

namespace M2M.Server.Accounting;

/// <summary>
/// What both doubtful-post journals (<see cref="DoubtfulPostFile"/>, <see cref="DoubtfulPostTable"/>) keep in
/// memory: the open records by incoming id, under one gate. A journal says only how a record and its resolution
/// are stored (a file line, a table row) and how it compacts; the open set and its bookkeeping are this class's.
/// </summary>
public abstract class DoubtfulPostJournalBase : IDoubtfulPostJournal
{
    /// <summary>Held while the open set or the store changes: an append and a resolution never interleave.</summary>
    private protected Lock Gate { get; } = new();

    /// <summary>The open records by incoming id; read and written under <see cref="Gate"/>.</summary>
    private protected Dictionary<UInt128, DoubtfulPost> OpenPosts { get; } = [];

    public int OpenCount
    {
        get { lock (Gate) return OpenPosts.Count; }
    }

    public IReadOnlyList<DoubtfulPost> Open
    {
        get { lock (Gate) return [.. OpenPosts.Values]; }
    }

    public bool TryAppend(DoubtfulPost post)
    {
        lock (Gate)
        {
            // Open in memory even if the store refuses it: this run still resolves it.
            OpenPosts[post.IncomingId] = post;
            return Store(post);
        }
    }

    public void Resolved(UInt128 incomingId, DoubtfulOutcome outcome)
    {
        lock (Gate)
        {
            OpenPosts.Remove(incomingId);
            StoreResolved(incomingId, outcome);
        }
    }

    public abstract void Compact();

    /// <summary>Writes the open record durably (under <see cref="Gate"/>); false, after logging why, when it could not.</summary>
    private protected abstract bool Store(DoubtfulPost post);

    /// <summary>Records the resolution (under <see cref="Gate"/>); a failure is logged, and the next start resolves it again.</summary>
    private protected abstract void StoreResolved(UInt128 incomingId, DoubtfulOutcome outcome);

    /// <summary>The outcome as both stores write it.</summary>
    private protected static string OutcomeName(DoubtfulOutcome outcome) => outcome switch
    {
        DoubtfulOutcome.Voided => "voided",
        DoubtfulOutcome.Reversed => "reversed",
        _ => "not-posted",
    };
}
