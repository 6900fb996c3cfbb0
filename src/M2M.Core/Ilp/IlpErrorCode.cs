namespace M2M.Core.Ilp;

/// <summary>ILPv4 error codes (RFC 27): F = final, T = temporary, R = relative.</summary>
public static class IlpErrorCode
{
    public const string F00_BadRequest = "F00";
    public const string F01_InvalidPacket = "F01";
    public const string F02_Unreachable = "F02";
    public const string F03_InvalidAmount = "F03";
    public const string F04_InsufficientDestinationAmount = "F04";
    public const string F05_WrongCondition = "F05";
    public const string F06_UnexpectedPayment = "F06";
    public const string F07_CannotReceive = "F07";
    public const string F08_AmountTooLarge = "F08";
    public const string F99_ApplicationError = "F99";
    public const string T00_InternalError = "T00";
    public const string T01_PeerUnreachable = "T01";
    public const string T02_PeerBusy = "T02";
    public const string T03_ConnectorBusy = "T03";
    public const string T04_InsufficientLiquidity = "T04";
    public const string T05_RateLimited = "T05";
    public const string T99_ApplicationError = "T99";
    public const string R00_TransferTimedOut = "R00";
    public const string R01_InsufficientSourceAmount = "R01";
    public const string R02_InsufficientTimeout = "R02";
    public const string R99_ApplicationError = "R99";

    /// <summary>Every code defined by RFC 27, with its name.</summary>
    public static readonly IReadOnlyDictionary<string, string> Names = new Dictionary<string, string>
    {
        [F00_BadRequest] = "Bad Request",
        [F01_InvalidPacket] = "Invalid Packet",
        [F02_Unreachable] = "Unreachable",
        [F03_InvalidAmount] = "Invalid Amount",
        [F04_InsufficientDestinationAmount] = "Insufficient Destination Amount",
        [F05_WrongCondition] = "Wrong Condition",
        [F06_UnexpectedPayment] = "Unexpected Payment",
        [F07_CannotReceive] = "Cannot Receive",
        [F08_AmountTooLarge] = "Amount Too Large",
        [F99_ApplicationError] = "Application Error",
        [T00_InternalError] = "Internal Error",
        [T01_PeerUnreachable] = "Peer Unreachable",
        [T02_PeerBusy] = "Peer Busy",
        [T03_ConnectorBusy] = "Connector Busy",
        [T04_InsufficientLiquidity] = "Insufficient Liquidity",
        [T05_RateLimited] = "Rate Limited",
        [T99_ApplicationError] = "Application Error",
        [R00_TransferTimedOut] = "Transfer Timed Out",
        [R01_InsufficientSourceAmount] = "Insufficient Source Amount",
        [R02_InsufficientTimeout] = "Insufficient Timeout",
        [R99_ApplicationError] = "Application Error",
    };

    /// <summary>A code is three characters: F, T or R then two digits (unknown codes are legal on the wire).</summary>
    public static bool IsWellFormed(ReadOnlySpan<char> code) =>
        code.Length == 3 && code[0] is 'F' or 'T' or 'R' && char.IsAsciiDigit(code[1]) && char.IsAsciiDigit(code[2]);
}
