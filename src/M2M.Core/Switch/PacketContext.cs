using M2M.Core.Ilp;

namespace M2M.Core.Switch;

/// <summary>One Prepare travelling through the switch; steps read and fill it in.</summary>
public sealed class PacketContext(IlpPrepare prepare, PeerDescriptor source, DateTimeOffset receivedAt, CancellationToken cancellationToken)
{
    public IlpPrepare Prepare { get; } = prepare;
    public PeerDescriptor Source { get; } = source;
    public DateTimeOffset ReceivedAt { get; } = receivedAt;
    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>
    /// The way back to the sender; null when the caller replies synchronously (tests, local callers).
    /// Once a Prepare is forwarded its two legs are independent (RELIABILITY.md): the sender going
    /// away does not cancel the forward, and the ledger step asks this whether the Fulfill can still go back.
    /// </summary>
    public IReplyPath? Upstream { get; init; }

    /// <summary>Set by the echo step on the echo response it sends: routing may send it back to its source peer.</summary>
    public bool Echo { get; init; }

    /// <summary>Set by the expiry step: the shortened expiry of the outgoing Prepare.</summary>
    public DateTimeOffset OutgoingExpiresAt { get; set; }

    /// <summary>Set by the routing step.</summary>
    public string? NextHop { get; set; }

    /// <summary>The amount to forward, in the next hop's asset: the incoming amount unless the exchange step converted it.</summary>
    public ulong OutgoingAmount { get; set; } = prepare.Amount;

    /// <summary>True once the exchange step converted between two assets (the two ledger legs are then on different ledgers).</summary>
    public bool Converted { get; set; }
}

/// <summary>The connection a Prepare came in on, as the switch sees it.</summary>
public interface IReplyPath
{
    /// <summary>False once a reply can no longer reach the sender (its connection closed, aborted or was replaced).</summary>
    bool IsOpen { get; }
}

/// <summary>The rest of the pipeline, as seen from one step.</summary>
public delegate ValueTask<IlpReply> PacketHandler(PacketContext context);

/// <summary>
/// One stage of packet handling. A step either answers (reject or local fulfill) or calls
/// <c>next</c> and may inspect the reply on the way back (the ledger stage posts or voids there).
/// </summary>
public interface IPacketStep
{
    ValueTask<IlpReply> InvokeAsync(PacketContext context, PacketHandler next);
}
