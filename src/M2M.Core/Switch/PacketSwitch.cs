using M2M.Core.Ilp;

namespace M2M.Core.Switch;

/// <summary>Receives the outcome of every Prepare, for metrics and logs.</summary>
/// <remarks>The in-flight count is read when wanted (<see cref="PacketSwitch.InFlight"/>, e.g. at a metrics scrape), not pushed per packet.</remarks>
public interface IPacketObserver
{
    void PacketCompleted(PacketContext context, IlpReply reply, TimeSpan elapsed);
}

/// <summary>
/// Runs each incoming Prepare through the composed steps and always produces exactly one reply.
/// Tracks in-flight packets so a drain can wait for them; while draining, new Prepares get T03.
/// </summary>
public sealed class PacketSwitch
{
    private readonly PacketHandler _pipeline;
    private readonly SwitchOptions _options;
    private readonly TimeProvider _time;
    private readonly IPacketObserver? _observer;
    private long _inFlight;
    private volatile bool _draining;
    private readonly TaskCompletionSource _idle = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public PacketSwitch(SwitchOptions options, IReadOnlyList<IPacketStep> steps, ForwardingStep forwarder, TimeProvider time, IPacketObserver? observer = null)
    {
        _options = options;
        _time = time;
        _observer = observer;
        PacketHandler pipeline = forwarder.InvokeAsync;
        for (int i = steps.Count - 1; i >= 0; i--)
        {
            var step = steps[i];
            var next = pipeline;
            pipeline = ctx => step.InvokeAsync(ctx, next);
        }
        _pipeline = pipeline;
    }

    public long InFlight => Interlocked.Read(ref _inFlight);

    public bool IsDraining => _draining;

    public async ValueTask<IlpReply> HandleAsync(IlpPrepare prepare, PeerDescriptor source, CancellationToken cancellationToken, IReplyPath? upstream = null)
    {
        long started = _time.GetTimestamp();
        var context = new PacketContext(prepare, source, _time.GetUtcNow(), cancellationToken) { Upstream = upstream };
        // Count first, then check the flag: a drain that sees 0 in flight can then never miss this packet.
        Interlocked.Increment(ref _inFlight);
        IlpReply reply;
        if (_draining)
        {
            Leave();
            return Complete(context, _options.Reject(RejectReason.Draining, "connector is draining and accepts no new packets"), started);
        }
        try
        {
            reply = await _pipeline(context).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A step failing unexpectedly must still produce exactly one reply for the sender.
            reply = _options.Reject(RejectReason.InternalError, "internal error");
        }
        finally
        {
            Leave();
        }
        return Complete(context, reply, started);
    }

    /// <summary>Stops accepting Prepares; the task completes when none is in flight or the token fires.</summary>
    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        _draining = true;
        if (InFlight == 0) return;
        await _idle.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A Prepare that could not be decoded still gets a reply (F01) and is counted.</summary>
    public IlpReject InvalidPacket(string reason) =>
        _options.Reject(RejectReason.InvalidPacket, reason);

    private void Leave()
    {
        if (Interlocked.Decrement(ref _inFlight) == 0 && _draining) _idle.TrySetResult();
    }

    private IlpReply Complete(PacketContext context, IlpReply reply, long started)
    {
        _observer?.PacketCompleted(context, reply, _time.GetElapsedTime(started));
        return reply;
    }
}
