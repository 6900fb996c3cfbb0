using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using M2M.Core.Oer;

namespace M2M.Core.Ilp;

/// <summary>
/// OER codec for ILPv4 packets (RFC 27, RFC 30). Decoding never throws: malformed input is
/// <see cref="OperationStatus.InvalidData"/> (or NeedMoreData when truncated) with a reason.
/// Byte fields of decoded packets are slices of the input memory (no copy).
/// <code>
/// IlpPacket  ::= type UInt8 (12 prepare, 13 fulfill, 14 reject), contents VarOctetString
/// IlpPrepare ::= amount UInt64, expiresAt Timestamp (17 ASCII "YYYYMMDDHHmmssfff", UTC),
///                executionCondition UInt256, destination Address (VarIA5String), data VarOctetString
/// IlpFulfill ::= fulfillment UInt256, data VarOctetString
/// IlpReject  ::= code IA5String(3), triggeredBy Address, message VarUTF8String, data VarOctetString
/// </code>
/// </summary>
public static partial class IlpCodec
{
    /// <summary>RFC 27: data is at most 32767 bytes.</summary>
    public const int MaxDataLength = 32767;
    /// <summary>Bytes of a condition or fulfillment (256 bits).</summary>
    public const int HashLength = 32;
    /// <summary>Bytes of the fixed-width "YYYYMMDDHHmmssfff" timestamp.</summary>
    public const int TimestampLength = 17;
    /// <summary>Reject codes are three IA5 characters.</summary>
    public const int CodeLength = 3;
    /// <summary>Largest reject message we read: the packet limit bounds it anyway.</summary>
    public const int MaxMessageLength = 8192;
    /// <summary>An upper bound for a whole packet: data + address + fixed fields + prefixes.</summary>
    public const int MaxPacketLength = MaxDataLength + IlpAddress.MaxLength + MaxMessageLength + 128;

    private const int AmountLength = 8;

    public static OperationStatus TryDecode(ReadOnlySequence<byte> buffer, out IlpPacket? packet, out string? error)
    {
        if (buffer.IsSingleSegment) return TryDecode(buffer.First, out packet, out error);
        if (buffer.Length > MaxPacketLength)
        {
            packet = null;
            error = $"packet is {buffer.Length} bytes, the maximum is {MaxPacketLength}";
            return OperationStatus.InvalidData;
        }
        return TryDecode(buffer.ToArray(), out packet, out error);
    }

    public static OperationStatus TryDecode(ReadOnlyMemory<byte> buffer, out IlpPacket? packet, out string? error)
    {
        packet = null;
        var status = TryReadEnvelope(buffer, out var type, out var content, out error);
        if (status != OperationStatus.Done) return status;
        return type switch
        {
            IlpPacketType.Prepare => DecodePrepare(content, out packet, out error),
            IlpPacketType.Fulfill => DecodeFulfill(content, out packet, out error),
            _ => DecodeReject(content, out packet, out error),
        };
    }

    /// <summary>The view's fields, plus the destination string from the shared <see cref="IlpAddressCache"/>.</summary>
    private static OperationStatus DecodePrepare(ReadOnlyMemory<byte> content, out IlpPacket? packet, out string? error)
    {
        var status = TryReadPrepareContent(content, out var view, out error);
        packet = status == OperationStatus.Done ? view.ToPrepare() : null;
        return status;
    }

    private static OperationStatus DecodeFulfill(ReadOnlyMemory<byte> content, out IlpPacket? packet, out string? error)
    {
        packet = null;
        if (content.Length < HashLength) return Fail(OperationStatus.InvalidData, "fulfill is truncated", out error);
        if (!TryReadData(content[HashLength..], out var data, out error)) return OperationStatus.InvalidData;
        packet = new IlpFulfill { Fulfillment = content[..HashLength], Data = data };
        return OperationStatus.Done;
    }

    private static OperationStatus DecodeReject(ReadOnlyMemory<byte> content, out IlpPacket? packet, out string? error)
    {
        packet = null;
        var span = content.Span;
        if (span.Length < CodeLength) return Fail(OperationStatus.InvalidData, "reject is truncated", out error);
        var codeBytes = span[..CodeLength];
        foreach (byte b in codeBytes)
        {
            if (b is < 0x20 or > 0x7E) return Fail(OperationStatus.InvalidData, "reject code is not IA5 text", out error);
        }
        string code = Encoding.ASCII.GetString(codeBytes);
        int offset = CodeLength;
        // triggeredBy may be empty (as ilp-packet allows); otherwise it must be a valid address.
        if (Oer.Oer.TryReadVarOctetString(span[offset..], IlpAddress.MaxLength, out Range byRange, out int used) != OperationStatus.Done
            || !IsAscii(span[offset..][byRange]))
            return Fail(OperationStatus.InvalidData, "triggeredBy is not a valid address", out error);
        string triggeredBy = Encoding.ASCII.GetString(span[offset..][byRange]);
        if (triggeredBy.Length > 0 && !IlpAddress.IsValid(triggeredBy))
            return Fail(OperationStatus.InvalidData, $"triggeredBy '{Truncate(triggeredBy)}' is not a valid address", out error);
        offset += used;
        if (Oer.Oer.TryReadVarOctetString(span[offset..], MaxMessageLength, out Range msgRange, out used) != OperationStatus.Done)
            return Fail(OperationStatus.InvalidData, "message is invalid or truncated", out error);
        string message;
        try
        {
            message = StrictUtf8.GetString(span[offset..][msgRange]);
        }
        catch (DecoderFallbackException)
        {
            return Fail(OperationStatus.InvalidData, "message is not valid UTF-8", out error);
        }
        offset += used;
        if (!TryReadData(content[offset..], out var data, out error)) return OperationStatus.InvalidData;
        packet = new IlpReject { Code = code, TriggeredBy = triggeredBy, Message = message, Data = data };
        return OperationStatus.Done;
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static bool TryReadData(ReadOnlyMemory<byte> content, out ReadOnlyMemory<byte> data, out string? error)
    {
        data = default;
        var status = Oer.Oer.TryReadVarOctetString(content.Span, MaxDataLength, out Range range, out _);
        if (status != OperationStatus.Done) return FailBool($"data is invalid, truncated or over {MaxDataLength} bytes", out error);
        data = content[range];
        error = null;
        return true;
    }

    private static bool IsAscii(ReadOnlySpan<byte> bytes) => !bytes.ContainsAnyExceptInRange((byte)0x20, (byte)0x7E);

    /// <summary>Parses "YYYYMMDDHHmmssfff" (UTC) without allocating.</summary>
    public static bool TryParseTimestamp(ReadOnlySpan<byte> s, out DateTimeOffset value)
    {
        value = default;
        if (s.Length != TimestampLength) return false;
        foreach (byte b in s)
        {
            if (b is < (byte)'0' or > (byte)'9') return false;
        }
        int year = Digits(s, 0, 4), month = Digits(s, 4, 2), day = Digits(s, 6, 2);
        int hour = Digits(s, 8, 2), minute = Digits(s, 10, 2), second = Digits(s, 12, 2), ms = Digits(s, 14, 3);
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month)) return false;
        if (hour > 23 || minute > 59 || second > 59) return false;
        value = new DateTimeOffset(year, month, day, hour, minute, second, ms, TimeSpan.Zero);
        return true;
    }

    private static int Digits(ReadOnlySpan<byte> s, int start, int count)
    {
        int v = 0;
        for (int i = start; i < start + count; i++) v = v * 10 + (s[i] - '0');
        return v;
    }

    /// <summary>Writes "YYYYMMDDHHmmssfff" for the UTC instant.</summary>
    public static void WriteTimestamp(Span<byte> destination, DateTimeOffset value)
    {
        var t = value.UtcDateTime;
        Put(destination, 0, 4, t.Year);
        Put(destination, 4, 2, t.Month);
        Put(destination, 6, 2, t.Day);
        Put(destination, 8, 2, t.Hour);
        Put(destination, 10, 2, t.Minute);
        Put(destination, 12, 2, t.Second);
        Put(destination, 14, 3, t.Millisecond);
    }

    private static void Put(Span<byte> d, int start, int count, int value)
    {
        for (int i = start + count - 1; i >= start; i--)
        {
            d[i] = (byte)('0' + value % 10);
            value /= 10;
        }
    }

    private static OperationStatus Fail(OperationStatus status, string reason, out string? error)
    {
        error = reason;
        return status;
    }

    private static bool FailBool(string reason, out string? error)
    {
        error = reason;
        return false;
    }

    private static string Truncate(string s) => s.Length <= 64 ? s : s[..64] + "…";
}
