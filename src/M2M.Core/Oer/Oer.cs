using System.Buffers;
using System.Buffers.Binary;

namespace M2M.Core.Oer;

/// <summary>
/// Octet Encoding Rules (RFC 30) primitives shared by the ILP and BTP codecs.
/// Length prefix: one byte &lt; 0x80 is the length itself; otherwise 0x80 | n followed by n
/// big-endian length bytes. Lengths must be canonical (shortest form), as oer-utils enforces.
/// Variable-length unsigned integers are a length prefix followed by that many big-endian bytes.
/// </summary>
public static class Oer
{
    /// <summary>Largest length prefix we accept: 4 length bytes (more than any ILP/BTP limit).</summary>
    public const int MaxLengthOfLength = 4;

    /// <summary>Reads a canonical OER length prefix. Never throws.</summary>
    public static OperationStatus TryReadLength(ReadOnlySpan<byte> source, out int length, out int consumed)
    {
        length = 0;
        consumed = 0;
        if (source.IsEmpty) return OperationStatus.NeedMoreData;
        byte first = source[0];
        if (first < 0x80)
        {
            length = first;
            consumed = 1;
            return OperationStatus.Done;
        }
        int n = first & 0x7F;
        if (n == 0 || n > MaxLengthOfLength) return OperationStatus.InvalidData;
        if (source.Length < 1 + n) return OperationStatus.NeedMoreData;
        uint value = 0;
        for (int i = 1; i <= n; i++) value = (value << 8) | source[i];
        // Canonical: long form only for >= 128, and no leading zero byte.
        if (value < 0x80 || source[1] == 0 || value > int.MaxValue) return OperationStatus.InvalidData;
        length = (int)value;
        consumed = 1 + n;
        return OperationStatus.Done;
    }

    /// <summary>Reads a length-prefixed octet string; <paramref name="value"/> is a slice of the source.</summary>
    public static OperationStatus TryReadVarOctetString(ReadOnlySpan<byte> source, int maxLength, out Range value, out int consumed)
    {
        value = default;
        consumed = 0;
        var status = TryReadLength(source, out int length, out int prefix);
        if (status != OperationStatus.Done) return status;
        if (length > maxLength) return OperationStatus.InvalidData;
        // Compare without adding: prefix + length can overflow for lengths near int.MaxValue.
        if (length > source.Length - prefix) return OperationStatus.NeedMoreData;
        value = new Range(prefix, prefix + length);
        consumed = prefix + length;
        return OperationStatus.Done;
    }

    /// <summary>Reads a variable-length unsigned integer (at most 8 bytes).</summary>
    public static OperationStatus TryReadVarUInt(ReadOnlySpan<byte> source, out ulong value, out int consumed)
    {
        value = 0;
        var status = TryReadVarOctetString(source, 8, out Range range, out consumed);
        if (status != OperationStatus.Done) return status;
        var bytes = source[range];
        if (bytes.IsEmpty) return OperationStatus.InvalidData;
        foreach (byte b in bytes) value = (value << 8) | b;
        return OperationStatus.Done;
    }

    /// <summary>Number of bytes a length prefix for <paramref name="length"/> takes.</summary>
    public static int LengthPrefixSize(int length)
    {
        if (length < 0x80) return 1;
        if (length <= 0xFF) return 2;
        if (length <= 0xFFFF) return 3;
        if (length <= 0xFFFFFF) return 4;
        return 5;
    }

    /// <summary>Writes a canonical length prefix; returns bytes written.</summary>
    public static int WriteLength(Span<byte> destination, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        int size = LengthPrefixSize(length);
        if (size == 1)
        {
            destination[0] = (byte)length;
            return 1;
        }
        int n = size - 1;
        destination[0] = (byte)(0x80 | n);
        for (int i = 0; i < n; i++) destination[n - i] = (byte)(length >> (8 * i));
        return size;
    }

    public static void WriteLength(IBufferWriter<byte> writer, int length)
    {
        var span = writer.GetSpan(5);
        writer.Advance(WriteLength(span, length));
    }

    public static void WriteVarOctetString(IBufferWriter<byte> writer, ReadOnlySpan<byte> value)
    {
        WriteLength(writer, value.Length);
        writer.Write(value);
    }

    /// <summary>Bytes the minimal big-endian form of <paramref name="value"/> takes (at least 1).</summary>
    public static int VarUIntContentSize(ulong value)
    {
        int n = 1;
        while (n < 8 && (value >> (8 * n)) != 0) n++;
        return n;
    }

    public static void WriteVarUInt(IBufferWriter<byte> writer, ulong value)
    {
        int n = VarUIntContentSize(value);
        var span = writer.GetSpan(1 + n);
        span[0] = (byte)n;
        Span<byte> full = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(full, value);
        full[(8 - n)..].CopyTo(span[1..]);
        writer.Advance(1 + n);
    }
}
