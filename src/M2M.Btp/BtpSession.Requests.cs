using System.Buffers;
using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace M2M.Btp;

/// <summary>
/// Requests we send and the replies we wait for: one map of pending requests by request id, whose entries
/// are the reply's own TaskCompletionSource (no extra allocation per request). An ILP request completes
/// with the RESPONSE's "ilp" data; a sub-protocol MESSAGE with the whole RESPONSE (copied).
/// </summary>
public sealed partial class BtpSession
{
    private readonly ConcurrentDictionary<uint, IPendingReply> _pending = new();
    private int _nextRequestId = RandomNumberGenerator.GetInt32(int.MinValue, int.MaxValue);
    private int _outgoingInFlight;

    /// <summary>Outgoing requests awaiting a reply (for tests, metrics, and a demote that lets them finish).</summary>
    public int PendingRequestCount => _pending.Count;

    /// <summary>
    /// Sends <paramref name="ilpPacket"/> in a MESSAGE and returns the "ilp" data of the matching RESPONSE.
    /// Throws <see cref="BtpRemoteException"/> on a BTP ERROR, <see cref="BtpSessionClosedException"/> if the
    /// session closes, <see cref="OperationCanceledException"/> when <paramref name="ct"/> fires.
    /// </summary>
    public Task<ReadOnlyMemory<byte>> SendIlpAsync(ReadOnlyMemory<byte> ilpPacket, CancellationToken ct = default) =>
        SendIlpAsync(ilpPacket.Length, ilpPacket, static (frame, ilp) => ilp.Span.CopyTo(frame), ct);

    /// <summary>
    /// As <see cref="SendIlpAsync(ReadOnlyMemory{byte}, CancellationToken)"/>, but <paramref name="write"/> writes the
    /// <paramref name="ilpLength"/>-byte ILP packet straight into the pooled frame buffer: no intermediate copy.
    /// It is called at most once, synchronously, before this method returns its task.
    /// </summary>
    public async Task<ReadOnlyMemory<byte>> SendIlpAsync<TState>(int ilpLength, TState state, SpanAction<byte, TState> write, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        ThrowIfClosed();
        if (BtpCodec.GetIlpFrameLength(ilpLength) > _limits.MaxFrameBytes) throw new ArgumentException("ILP packet does not fit in one BTP frame.", nameof(ilpLength));
        if (Interlocked.Increment(ref _outgoingInFlight) > _limits.MaxInFlightRequests)
        {
            Interlocked.Decrement(ref _outgoingInFlight);
            throw new BtpException(TooBusyText);
        }
        var reply = new IlpReply();
        uint requestId = ReserveRequestId(reply);
        try
        {
            ThrowIfClosed(); // Shutdown may have drained _pending before our entry was added.
            ct.ThrowIfCancellationRequested();
            using var cancel = ct.UnsafeRegister(static s => ((IlpReply)s!).TrySetCanceled(), reply);
            EnqueueIlpFrame(BtpPacketType.Message, requestId, ilpLength, state, write);
            return await reply.Task.ConfigureAwait(false);
        }
        finally
        {
            _pending.TryRemove(KeyValuePair.Create(requestId, (IPendingReply)reply));
            Interlocked.Decrement(ref _outgoingInFlight);
        }
    }

    /// <summary>
    /// Sends a MESSAGE with <paramref name="protocolData"/> (a sub-protocol other than ilp) and returns the
    /// peer's RESPONSE (its protocol data copied). Throws <see cref="BtpRemoteException"/> on a BTP ERROR,
    /// <see cref="BtpSessionClosedException"/> if the session closes, <see cref="OperationCanceledException"/> on <paramref name="ct"/>.
    /// </summary>
    public Task<BtpPacket> SendMessageAsync(IReadOnlyList<BtpProtocolData> protocolData, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(protocolData);
        return SendRequestAsync(protocolData, static (id, pd) => BtpPacket.Message(id, pd), ct);
    }

    /// <summary>
    /// Sends a TRANSFER of <paramref name="amount"/> (RFC 23: we paid the peer outside ILP) and completes on its
    /// RESPONSE, after which the peer has booked it. Throws as <see cref="SendMessageAsync"/> does.
    /// </summary>
    public Task<BtpPacket> SendTransferAsync(ulong amount, IReadOnlyList<BtpProtocolData> protocolData, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(protocolData);
        return SendRequestAsync((amount, protocolData), static (id, a) => BtpPacket.Transfer(id, a.amount, a.protocolData), ct);
    }

    /// <summary>A MESSAGE or TRANSFER that is not an ILP packet: its whole RESPONSE is returned.</summary>
    private async Task<BtpPacket> SendRequestAsync<TState>(TState state, Func<uint, TState, BtpPacket> build, CancellationToken ct)
    {
        ThrowIfClosed();
        if (!FitsInFrame(build(0, state))) throw new ArgumentException("request does not fit in one BTP frame.", nameof(state));
        if (Interlocked.Increment(ref _outgoingInFlight) > _limits.MaxInFlightRequests)
        {
            Interlocked.Decrement(ref _outgoingInFlight);
            throw new BtpException(TooBusyText);
        }
        var reply = new MessageReply();
        uint requestId = ReserveRequestId(reply);
        try
        {
            ThrowIfClosed();
            ct.ThrowIfCancellationRequested();
            using var cancel = ct.Register(static s => ((MessageReply)s!).TrySetCanceled(), reply);
            EnqueuePacket(build(requestId, state));
            return await reply.Task.ConfigureAwait(false);
        }
        finally
        {
            _pending.TryRemove(KeyValuePair.Create(requestId, (IPendingReply)reply));
            Interlocked.Decrement(ref _outgoingInFlight);
        }
    }

    private uint ReserveRequestId(IPendingReply reply)
    {
        // Terminates: at most MaxInFlightRequests ids are taken out of 2^32.
        while (true)
        {
            uint id = (uint)Interlocked.Increment(ref _nextRequestId);
            if (id != 0 && _pending.TryAdd(id, reply)) return id;
        }
    }

    private void CompleteResponse(BtpPacket packet)
    {
        if (_pending.TryRemove(packet.RequestId, out var reply)) reply.Complete(packet);
        else BtpLog.UnmatchedReply(_logger, PeerId, packet.Type, packet.RequestId);
    }

    /// <summary>A RESPONSE read in place (<see cref="BtpCodec.TryReadIlpFrame"/>): <paramref name="ilp"/> is its one "ilp" entry.</summary>
    private void CompleteIlpResponse(uint requestId, ReadOnlyMemory<byte> ilp, ReadOnlyMemory<byte> frame)
    {
        if (!_pending.TryRemove(requestId, out var reply))
        {
            BtpLog.UnmatchedReply(_logger, PeerId, BtpPacketType.Response, requestId);
            return;
        }
        if (reply is IlpReply ilpReply) ilpReply.TrySetResult(ilp.ToArray());
        else if (BtpCodec.TryDecode(frame, out var packet, out _) == OperationStatus.Done) reply.Complete(packet!); // a sub-protocol request answered with ilp data
    }

    private void CompleteError(BtpPacket packet)
    {
        if (_pending.TryRemove(packet.RequestId, out var reply))
            reply.Fail(new BtpRemoteException(packet.Code, packet.Name, packet.TriggeredAt, packet.ErrorData.ToArray()));
        else
            BtpLog.UnmatchedReply(_logger, PeerId, packet.Type, packet.RequestId);
    }

    /// <summary>Fails every request still waiting (the session is gone).</summary>
    private void FailPending(Exception closed)
    {
        foreach (var id in _pending.Keys)
        {
            if (_pending.TryRemove(id, out var reply)) reply.Fail(closed);
        }
    }

    private interface IPendingReply
    {
        /// <summary>Called from the read loop: copy what is kept, the receive buffer is reused.</summary>
        void Complete(BtpPacket response);

        void Fail(Exception error);
    }

    private sealed class IlpReply() : TaskCompletionSource<ReadOnlyMemory<byte>>(TaskCreationOptions.RunContinuationsAsynchronously), IPendingReply
    {
        public void Complete(BtpPacket response)
        {
            if (response.TryGetProtocolData(BtpProtocolNames.Ilp, out var ilp)) TrySetResult(ilp.Data.ToArray());
            else TrySetException(new BtpException("RESPONSE carried no ilp protocol data"));
        }

        public void Fail(Exception error) => TrySetException(error);
    }

    private sealed class MessageReply() : TaskCompletionSource<BtpPacket>(TaskCreationOptions.RunContinuationsAsynchronously), IPendingReply
    {
        public void Complete(BtpPacket response) => TrySetResult(Copy(response));

        public void Fail(Exception error) => TrySetException(error);
    }

    private static BtpPacket Copy(BtpPacket packet) => new()
    {
        Type = packet.Type,
        RequestId = packet.RequestId,
        ProtocolData = packet.ProtocolData.Select(p => p with { Data = p.Data.ToArray() }).ToArray(),
    };
}
