namespace M2M.Btp;

/// <summary>BTP call type ids. 3–5 were BTP alpha calls; BTP 2.0 (RFC 23) no longer defines them.</summary>
public enum BtpPacketType : byte
{
    Response = 1,
    Error = 2,
    Prepare = 3,
    Fulfill = 4,
    Reject = 5,
    Message = 6,
    Transfer = 7,
}

/// <summary>
/// Protocol-data content type. The wire field is a UInt8, so values outside the named ones
/// are carried through unchanged.
/// </summary>
public enum BtpContentType : byte
{
    ApplicationOctetStream = 0,
    TextPlainUtf8 = 1,
    ApplicationJson = 2,
}

/// <summary>One protocolData entry. <see cref="Data"/> may point into a received frame buffer.</summary>
public readonly record struct BtpProtocolData(string ProtocolName, BtpContentType ContentType, ReadOnlyMemory<byte> Data);

/// <summary>Protocol names with a fixed meaning (RFC 23 reserves "ilp"; auth names from ilp-plugin-btp).</summary>
public static class BtpProtocolNames
{
    public const string Ilp = "ilp";
    public const string Auth = "auth";
    public const string AuthUsername = "auth_username";
    public const string AuthToken = "auth_token";
}

/// <summary>RFC 23 error codes and their names (the names travel on the wire).</summary>
public static class BtpErrorCodes
{
    public const string Unreachable = "T00";
    public const string UnreachableName = "UnreachableError";
    public const string NotAccepted = "F00";
    public const string NotAcceptedName = "NotAcceptedError";
    public const string InvalidFields = "F01";
    public const string InvalidFieldsName = "InvalidFieldsError";
}
