using M2M.Core.Ilp;

namespace M2M.Core.Switch;

/// <summary>How a peer relates to us (RFC: parent gives us our address, we give a child its address).</summary>
public enum PeerRelation
{
    Peer,
    Parent,
    Child,
}

/// <summary>What the switch knows about a configured peer.</summary>
public sealed record PeerDescriptor(string Id, PeerRelation Relation, string AssetCode, byte AssetScale, ulong? MaxPacketAmount);

/// <summary>A connection to a peer that can carry a Prepare and return its reply.</summary>
public interface IPeerLink
{
    string PeerId { get; }

    /// <summary>Sends the Prepare and returns the peer's Fulfill or Reject. Throws <see cref="PeerUnavailableException"/> when the link breaks.</summary>
    ValueTask<IlpReply> SendPrepareAsync(IlpPrepare prepare, CancellationToken cancellationToken);
}

/// <summary>Finds the live link to a peer, if any.</summary>
public interface IPeerLinks
{
    bool TryGetLink(string peerId, out IPeerLink? link);
}

/// <summary>The peer could not be reached (not connected, connection lost mid-flight, protocol error).</summary>
public sealed class PeerUnavailableException(string peerId, string reason, Exception? inner = null)
    : Exception($"peer {peerId} is unavailable: {reason}", inner)
{
    public string PeerId { get; } = peerId;
    public string Reason { get; } = reason;
}
