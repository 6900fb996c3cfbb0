namespace M2M.Btp;

/// <summary>
/// The stream under a <see cref="BtpWebSocket"/>: reads pass through; writes pass through too, except while
/// the session's send drainer has it corked, when they are gathered in one buffer and go out as one write
/// when it uncorks (one socket send for a queue of frames instead of one per frame). Every write — ours and
/// the WebSocket's own pings, pongs and close — is serialized by one async gate, so bytes of two writes
/// never interleave and order is kept. Only the drainer corks and uncorks.
/// </summary>
internal sealed class CorkableStream(Stream inner) : Stream
{
    /// <summary>While corked, a write that would pass this many buffered bytes sends what is buffered first.</summary>
    internal const int MaxBufferedBytes = 32 * 1024;

    private const int InitialBufferBytes = 4 * 1024;

    private readonly SemaphoreSlim _gate = new(1, 1);
    private byte[] _buffer = [];
    private int _buffered;
    private volatile bool _corked;

    public Stream Inner => inner;

    /// <summary>Writes from now on are buffered until <see cref="UncorkAsync"/>.</summary>
    public void Cork() => _corked = true;

    /// <summary>Ends buffering and writes everything buffered in one write.</summary>
    public async ValueTask UncorkAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            _corked = false;
            await WriteBufferedAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // The common case (the drainer, corked, gate free) completes synchronously: no await, no allocation.
        if (_corked && _gate.Wait(0))
        {
            bool appended = false;
            try
            {
                if (_corked && _buffered + buffer.Length <= MaxBufferedBytes)
                {
                    Append(buffer.Span);
                    appended = true;
                }
            }
            finally
            {
                _gate.Release();
            }
            if (appended) return ValueTask.CompletedTask;
        }
        return WriteSlowAsync(buffer, cancellationToken);
    }

    private async ValueTask WriteSlowAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_corked && _buffered + buffer.Length <= MaxBufferedBytes)
            {
                Append(buffer.Span);
                return;
            }
            await WriteBufferedAsync(ct).ConfigureAwait(false); // what was gathered goes first
            await inner.WriteAsync(buffer, ct).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        if (_buffered + bytes.Length > _buffer.Length)
            Array.Resize(ref _buffer, Math.Min(MaxBufferedBytes, Math.Max(InitialBufferBytes, Math.Max(_buffer.Length * 2, _buffered + bytes.Length))));
        bytes.CopyTo(_buffer.AsSpan(_buffered));
        _buffered += bytes.Length;
    }

    /// <summary>Gate held.</summary>
    private async ValueTask WriteBufferedAsync(CancellationToken ct)
    {
        if (_buffered == 0) return;
        int count = _buffered;
        _buffered = 0; // a failed write breaks the connection; nothing is retried
        await inner.WriteAsync(_buffer.AsMemory(0, count), ct).ConfigureAwait(false);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count)
    {
        _gate.Wait();
        try
        {
            if (_buffered > 0)
            {
                inner.Write(_buffer, 0, _buffered);
                _buffered = 0;
            }
            inner.Write(buffer, offset, count);
        }
        finally
        {
            _gate.Release();
        }
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        inner.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        inner.ReadAsync(buffer, offset, count, cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override void Flush() => inner.Flush();

    public override bool CanRead => inner.CanRead;
    public override bool CanWrite => inner.CanWrite;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
