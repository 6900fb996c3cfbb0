namespace M2M.Btp;

/// <summary>
/// The one handler contract of a BTP session: everything a peer may ask of us. It is given when the
/// session is created (BtpServerHandshake.AcceptAsync, BtpClient), before the session reads its first
/// frame, so no request can arrive ahead of its handler. Calls are concurrent; throwing answers the peer
/// with a BTP ERROR. Sub-protocol has a default (an empty RESPONSE, as ilp-plugin-btp does) and TRANSFER
/// one (refused with F00), so a handler implements only what it speaks.
/// </summary>
public interface IBtpMessageHandler
{
    /// <summary>
    /// Returns the ILP reply (fulfill or reject) for <paramref name="ilpPacket"/>. The input is only
    /// valid until the returned task completes; copy it to keep it. Called concurrently. Throwing makes
    /// the session answer with a BTP ERROR T00.
    /// </summary>
    ValueTask<ReadOnlyMemory<byte>> HandleIlpAsync(BtpSession session, ReadOnlyMemory<byte> ilpPacket, CancellationToken ct);

    /// <summary>
    /// A MESSAGE that carries no "ilp" data but a named sub-protocol (e.g. "payment-channel-claim"), called with
    /// its first protocol-data entry (a copy). The peer gets a RESPONSE carrying the returned entry (none if null),
    /// or a BTP ERROR F00 with the exception's message when this throws. Default: an empty RESPONSE.
    /// </summary>
    ValueTask<BtpProtocolData?> HandleSubProtocolAsync(BtpSession session, BtpProtocolData entry, CancellationToken ct) =>
        ValueTask.FromResult<BtpProtocolData?>(null);

    /// <summary>
    /// An incoming TRANSFER (RFC 23 settlement: the peer says it paid us outside ILP). The peer gets an empty RESPONSE
    /// once this returns (the credit must be durable by then), a BTP ERROR F00 with the reason when it throws
    /// <see cref="BtpRefusedException"/>, T00 on any other failure. The protocol data is a copy. Default: refused
    /// (F00): acknowledging a TRANSFER that nobody books would tell the peer it paid (issue 13 defect 1).
    /// </summary>
    ValueTask HandleTransferAsync(BtpSession session, BtpTransferRequest transfer, CancellationToken ct) =>
        throw new BtpRefusedException("TRANSFER is not accepted on this connection");
}

/// <summary>
/// Validates BTP auth credentials and returns the authenticated peer id, or null to reject.
/// Implementations must compare tokens in constant time
/// (<see cref="System.Security.Cryptography.CryptographicOperations.FixedTimeEquals"/>) and must not log the token.
/// </summary>
public delegate string? BtpAuthenticator(string authUsername, string authToken);
