using M2M.Core.Ilp;

namespace M2M.Core.Switch;

/// <summary>Why the connector itself rejects a Prepare; <see cref="RejectReasons"/> maps each to its ILP code.</summary>
public enum RejectReason
{
    // PacketSwitch
    Draining,
    InternalError,
    InvalidPacket,
    // IldcpStep, MaxPacketAmountStep
    IldcpNotChild,
    AmountTooLarge,
    // ExpiryStep
    Expired,
    InsufficientTimeout,
    // RoutingStep
    NoRoute,
    LocalRouteWithoutReceiver,
    RouteLoop,
    // EchoStep
    EchoInvalid,
    // PeerLimitsStep
    RateLimited,
    InFlightLimit,
    InFlightValueLimit,
    // ExchangeStep (and LedgerStep without rates)
    NoExchangeRate,
    RatesStale,
    NoRatesYet,
    ConvertsToZero,
    // LedgerStep
    NextHopNotAPeer,
    LedgerUnavailable,
    CreditLimitExceeded,
    LedgerRefused,
    PostFailed,
    // ForwardingStep
    NextHopNotConnected,
    ExpiredBeforeForwarding,
    NoReplyBeforeExpiry,
    PeerUnavailable,
    WrongCondition,
    FulfillAfterExpiry,
    // PeerProtocolStep (peer.route.*: CCP)
    PeerProtocolInvalid,
    RouteUpdateRefused,
    RouteUpdatesTooFast,
}

/// <summary>
/// The one table of reject reasons the switch steps share (the Kestrel RequestRejectionReason pattern):
/// each reason's ILP error code (RFC 27) is written here once; the step supplies the message, which
/// names the values involved. All rejects we originate carry our address as triggeredBy.
/// </summary>
public static class RejectReasons
{
    private static readonly string[] Codes = BuildCodes();

    public static string Code(RejectReason reason) => Codes[(int)reason];

    /// <summary>A reject for <paramref name="reason"/>, triggered by this connector.</summary>
    public static IlpReject Reject(this SwitchOptions options, RejectReason reason, string message) =>
        IlpRejects.Create(Code(reason), options.IlpAddress, message);

    /// <summary>As <see cref="Reject"/>, as a step's completed result.</summary>
    public static ValueTask<IlpReply> RejectAsync(this SwitchOptions options, RejectReason reason, string message) =>
        ValueTask.FromResult<IlpReply>(options.Reject(reason, message));

    private static string[] BuildCodes()
    {
        var codes = new string[Enum.GetValues<RejectReason>().Length];
        void Row(RejectReason reason, string code) => codes[(int)reason] = code;
        Row(RejectReason.Draining, IlpErrorCode.T03_ConnectorBusy);
        Row(RejectReason.InternalError, IlpErrorCode.T00_InternalError);
        Row(RejectReason.InvalidPacket, IlpErrorCode.F01_InvalidPacket);
        Row(RejectReason.IldcpNotChild, IlpErrorCode.F00_BadRequest);
        Row(RejectReason.AmountTooLarge, IlpErrorCode.F08_AmountTooLarge);
        Row(RejectReason.Expired, IlpErrorCode.R00_TransferTimedOut);
        Row(RejectReason.InsufficientTimeout, IlpErrorCode.R02_InsufficientTimeout);
        Row(RejectReason.NoRoute, IlpErrorCode.F02_Unreachable);
        Row(RejectReason.LocalRouteWithoutReceiver, IlpErrorCode.F02_Unreachable);
        Row(RejectReason.RouteLoop, IlpErrorCode.F02_Unreachable);
        Row(RejectReason.EchoInvalid, IlpErrorCode.F01_InvalidPacket);
        Row(RejectReason.RateLimited, IlpErrorCode.T05_RateLimited);
        Row(RejectReason.InFlightLimit, IlpErrorCode.T03_ConnectorBusy);
        Row(RejectReason.InFlightValueLimit, IlpErrorCode.T04_InsufficientLiquidity);
        Row(RejectReason.NextHopNotAPeer, IlpErrorCode.F02_Unreachable);
        Row(RejectReason.NoExchangeRate, IlpErrorCode.F02_Unreachable);
        Row(RejectReason.RatesStale, IlpErrorCode.T00_InternalError);
        Row(RejectReason.NoRatesYet, IlpErrorCode.T00_InternalError);
        Row(RejectReason.ConvertsToZero, IlpErrorCode.R01_InsufficientSourceAmount);
        Row(RejectReason.LedgerUnavailable, IlpErrorCode.T00_InternalError);
        Row(RejectReason.CreditLimitExceeded, IlpErrorCode.T04_InsufficientLiquidity);
        Row(RejectReason.LedgerRefused, IlpErrorCode.T00_InternalError);
        Row(RejectReason.PostFailed, IlpErrorCode.T00_InternalError);
        Row(RejectReason.NextHopNotConnected, IlpErrorCode.T01_PeerUnreachable);
        Row(RejectReason.ExpiredBeforeForwarding, IlpErrorCode.R00_TransferTimedOut);
        Row(RejectReason.NoReplyBeforeExpiry, IlpErrorCode.R00_TransferTimedOut);
        Row(RejectReason.PeerUnavailable, IlpErrorCode.T01_PeerUnreachable);
        Row(RejectReason.WrongCondition, IlpErrorCode.F05_WrongCondition);
        Row(RejectReason.FulfillAfterExpiry, IlpErrorCode.R00_TransferTimedOut);
        Row(RejectReason.PeerProtocolInvalid, IlpErrorCode.F01_InvalidPacket);
        Row(RejectReason.RouteUpdateRefused, IlpErrorCode.F00_BadRequest);
        Row(RejectReason.RouteUpdatesTooFast, IlpErrorCode.T05_RateLimited);
        // Always-on check: a reason added without its row fails at first use, not with a null code on the wire.
        if (Array.IndexOf(codes, null) is int missing and >= 0)
            throw new InvalidOperationException($"reject reason {(RejectReason)missing} has no ILP code in RejectReasons");
        return codes;
    }
}
