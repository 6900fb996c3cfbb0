namespace M2M.Btp;

/// <summary>
/// An incoming BTP TRANSFER (RFC 23): the peer says it paid <paramref name="Amount"/> outside ILP. The receiver
/// must update the balance before the RESPONSE and must not on an ERROR. <paramref name="ProtocolData"/> is a
/// copy (it outlives the receive buffer).
/// </summary>
public sealed record BtpTransferRequest(uint RequestId, ulong Amount, IReadOnlyList<BtpProtocolData> ProtocolData);

/// <summary>Thrown by a request hook to refuse the request: the peer gets a BTP ERROR F00 (NotAcceptedError) carrying <see cref="Exception.Message"/>.</summary>
public sealed class BtpRefusedException(string reason) : BtpException(reason);
