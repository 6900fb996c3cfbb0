using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Text;

namespace M2M.Core.Ilp;

/// <summary>
/// A validated ILP Prepare read in place: every byte field is a slice of the input, so reading one
/// allocates nothing (issue 7's codec target). <see cref="Destination"/> holds the address's ASCII
/// bytes; <see cref="IlpCodec.TryDecode(ReadOnlyMemory{byte}, out IlpPacket?, out string?)"/> turns
/// a view into an <see cref="IlpPrepare"/> for the switch.
/// </summary>
public readonly struct IlpPrepareView
{
    internal IlpPrepareView(ulong amount, DateTimeOffset expiresAt, ReadOnlyMemory<byte> condition, ReadOnlyMemory<byte> destination, ReadOnlyMemory<byte> data)
    {
        Amount = amount;
        ExpiresAt = expiresAt;
        ExecutionCondition = condition;
        Destination = destination;
        Data = data;
    }

    public ulong Amount { get; }
    public DateTimeOffset ExpiresAt { get; }
    /// <summary>32 bytes.</summary>
    public ReadOnlyMemory<byte> ExecutionCondition { get; }
    /// <summary>The destination address as ASCII bytes (valid per RFC 15).</summary>
    public ReadOnlyMemory<byte> Destination { get; }
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>The packet object the switch works with; the destination string comes from <see cref="IlpAddressCache"/>.</summary>
    public IlpPrepare ToPrepare() => new()
    {
        Amount = Amount,
        ExpiresAt = ExpiresAt,
        ExecutionCondition = ExecutionCondition,
        Destination = IlpAddressCache.Shared.GetString(Destination.Span),
        Data = Data,
    };
}

/// <summary>
/// Destination strings by their ASCII bytes. A connector sees the same few destinations over and
/// over, so decoding one should not allocate a new string per packet. Bounded: past
/// <see cref="MaxEntries"/> (or for long addresses) strings are allocated as before, so random
/// destinations from a peer cannot grow memory.
/// </summary>
public sealed class IlpAddressCache
{
    /// <summary>Enough for every route and child of a large connector; at most ~1 MiB of strings.</summary>
    public const int MaxEntries = 4096;
    /// <summary>Longer addresses are rare and not worth pinning in memory.</summary>
    public const int MaxCachedLength = 128;

    private readonly ConcurrentDictionary<string, string> _strings = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public IlpAddressCache() => _lookup = _strings.GetAlternateLookup<ReadOnlySpan<char>>();

    public static IlpAddressCache Shared { get; } = new();

    public int Count => _strings.Count;

    /// <summary>The string for these ASCII bytes (validated by the caller).</summary>
    public string GetString(ReadOnlySpan<byte> ascii)
    {
        if (ascii.Length > MaxCachedLength) return Encoding.ASCII.GetString(ascii);
        Span<char> chars = stackalloc char[ascii.Length];
        Encoding.ASCII.GetChars(ascii, chars);
        if (_lookup.TryGetValue(chars, out string? cached)) return cached;
        string s = new(chars);
        // Full (e.g. a peer sent thousands of distinct destinations): start over rather than stop caching
        // for good, so the addresses in use now are cached again after one miss each.
        if (_strings.Count >= MaxEntries) _strings.Clear();
        _strings.TryAdd(s, s);
        return s;
    }
}

public static partial class IlpCodec
{
    /// <summary>
    /// Reads a Prepare (type 12 envelope included) without allocating on success. InvalidData when it
    /// is another packet type or malformed, NeedMoreData when truncated; <paramref name="error"/> says why.
    /// </summary>
    public static OperationStatus TryReadPrepare(ReadOnlyMemory<byte> packet, out IlpPrepareView prepare, out string? error)
    {
        prepare = default;
        var status = TryReadEnvelope(packet, out var type, out var content, out error);
        if (status != OperationStatus.Done) return status;
        if (type != IlpPacketType.Prepare) return Fail(OperationStatus.InvalidData, $"expected an ILP Prepare, got a {type}", out error);
        return TryReadPrepareContent(content, out prepare, out error);
    }

    /// <summary>Type byte and envelope: the content slice of a packet no longer than <see cref="MaxPacketLength"/>.</summary>
    private static OperationStatus TryReadEnvelope(ReadOnlyMemory<byte> buffer, out IlpPacketType type, out ReadOnlyMemory<byte> content, out string? error)
    {
        type = default;
        content = default;
        var span = buffer.Span;
        if (span.IsEmpty) return Fail(OperationStatus.NeedMoreData, "packet is empty", out error);
        byte typeByte = span[0];
        if (typeByte is < (byte)IlpPacketType.Prepare or > (byte)IlpPacketType.Reject)
            return Fail(OperationStatus.InvalidData, $"unknown packet type {typeByte}", out error);
        if (Oer.Oer.TryReadLength(span[1..], out int declared, out _) == OperationStatus.Done && declared > MaxPacketLength)
            return Fail(OperationStatus.InvalidData, $"packet declares {declared} bytes, over the maximum {MaxPacketLength} (data is at most {MaxDataLength} bytes)", out error);
        var status = Oer.Oer.TryReadVarOctetString(span[1..], MaxPacketLength, out Range contentRange, out _);
        if (status != OperationStatus.Done) return Fail(status, "envelope length is invalid or truncated", out error);
        type = (IlpPacketType)typeByte;
        content = buffer[1..][contentRange];
        error = null;
        return OperationStatus.Done;
    }

    /// <summary>
    /// IlpPrepare ::= amount UInt64, expiresAt Timestamp (17 bytes), executionCondition UInt256,
    ///                destination Address (VarIA5String ≤ 1023), data VarOctetString (≤ 32767)
    /// </summary>
    private static OperationStatus TryReadPrepareContent(ReadOnlyMemory<byte> content, out IlpPrepareView prepare, out string? error)
    {
        prepare = default;
        var span = content.Span;
        const int fixedLength = AmountLength + TimestampLength + HashLength;
        if (span.Length < fixedLength) return Fail(OperationStatus.InvalidData, "prepare is truncated", out error);
        ulong amount = BinaryPrimitives.ReadUInt64BigEndian(span);
        if (!TryParseTimestamp(span.Slice(AmountLength, TimestampLength), out var expiresAt))
            return Fail(OperationStatus.InvalidData, "expiresAt is not a valid YYYYMMDDHHmmssfff timestamp", out error);
        var condition = content.Slice(AmountLength + TimestampLength, HashLength);
        if (!TryReadAddressBytes(span[fixedLength..], out Range destinationRange, out int used, out error)) return OperationStatus.InvalidData;
        var destination = content[fixedLength..][destinationRange];
        if (!TryReadData(content[(fixedLength + used)..], out var data, out error)) return OperationStatus.InvalidData;
        prepare = new IlpPrepareView(amount, expiresAt, condition, destination, data);
        return OperationStatus.Done;
    }

    /// <summary>Validates the destination on its bytes (RFC 15), without a string unless it is invalid.</summary>
    private static bool TryReadAddressBytes(ReadOnlySpan<byte> span, out Range range, out int consumed, out string? error)
    {
        if (Oer.Oer.TryReadVarOctetString(span, IlpAddress.MaxLength, out range, out consumed) != OperationStatus.Done)
            return FailBool("destination length is invalid or over 1023", out error);
        var bytes = span[range];
        if (!IsAscii(bytes)) return FailBool("destination is not ASCII", out error);
        Span<char> chars = stackalloc char[bytes.Length];
        Encoding.ASCII.GetChars(bytes, chars);
        string? reason = IlpAddress.Validate(chars);
        if (reason is not null) return FailBool($"destination '{Truncate(new string(chars))}' is invalid: {reason}", out error);
        error = null;
        return true;
    }
}
