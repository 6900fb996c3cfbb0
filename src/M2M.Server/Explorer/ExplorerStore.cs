namespace M2M.Server.Explorer;

/// <summary>
/// The Explorer's event store: a bounded in-memory ring (at most <c>maxEvents</c>, the oldest go
/// first) from which events older than the retention are also dropped. In memory on purpose: the
/// books are the ledger; this is a window for operators, lost on restart (docs/explorer.md).
/// Written by one pump, read by HTTP requests: one lock, held only to copy.
/// </summary>
public sealed class ExplorerStore(int maxEvents, TimeSpan retention, TimeProvider time)
{
    private readonly ExplorerEvent?[] _ring = new ExplorerEvent?[Math.Max(1, maxEvents)];
    private readonly Lock _lock = new();
    private long _next = 1;
    private int _start;
    private int _count;

    public const int MaxPageSize = 1000;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                Expire();
                return _count;
            }
        }
    }

    /// <summary>Stores the event with the next sequence number and returns it.</summary>
    public ExplorerEvent Append(ExplorerEvent e)
    {
        lock (_lock)
        {
            var stored = e with { Seq = _next++ };
            if (_count == _ring.Length)
            {
                _ring[_start] = stored;
                _start = (_start + 1) % _ring.Length;
            }
            else
            {
                _ring[(_start + _count) % _ring.Length] = stored;
                _count++;
            }
            Expire();
            return stored;
        }
    }

    public ExplorerPage Query(ExplorerQuery q)
    {
        int limit = Math.Clamp(q.Limit, 1, MaxPageSize);
        var page = new List<ExplorerEvent>(Math.Min(limit, 64));
        lock (_lock)
        {
            Expire();
            for (int i = _count - 1; i >= 0; i--)
            {
                var e = _ring[(_start + i) % _ring.Length]!;
                if (!q.Matches(e)) continue;
                if (page.Count == limit) return new ExplorerPage(page, page[^1].Seq);
                page.Add(e);
            }
        }
        return new ExplorerPage(page, null);
    }

    private void Expire()
    {
        var oldest = time.GetUtcNow() - retention;
        while (_count > 0 && _ring[_start]!.Time < oldest)
        {
            _ring[_start] = null;
            _start = (_start + 1) % _ring.Length;
            _count--;
        }
    }
}
