namespace M2M.Settlement;

/// <summary>
/// The one thing settlement needs from the host's peer links: send a sub-protocol message (JSON) to a peer
/// and get its answer. The host implements it over the peer's live BTP session (a MESSAGE with protocol
/// data); incoming sub-protocol messages reach settlement through the handlers it exposes
/// (e.g. <see cref="Evm.EvmClaimReceiver.HandleAsync"/>).
/// </summary>
public interface IPeerMessenger
{
    /// <summary>
    /// Sends <paramref name="json"/> under <paramref name="protocol"/> and returns the peer's data for the same
    /// protocol, or null when it acknowledged without it (it does not speak the protocol).
    /// Throws <see cref="PeerMessageException"/> when there is no live link, the peer refused, or it did not answer in time.
    /// </summary>
    Task<ReadOnlyMemory<byte>?> SendAsync(string peerId, string protocol, ReadOnlyMemory<byte> json, TimeSpan timeout, CancellationToken ct);
}

/// <summary>A peer message failed; <see cref="Refused"/> when the peer answered with an error (its reason is in the message).</summary>
public sealed class PeerMessageException(string message, bool refused = false, Exception? inner = null) : Exception(message, inner)
{
    public bool Refused { get; } = refused;
}
