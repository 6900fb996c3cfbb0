using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace M2M.Core.Ilp;


public static class IlpEncoder
{
    /// <summary>Serializes a packet into <paramref name="writer"/> (one size computation, no temporaries).</summary>
    public static void Encode(IlpPacket packet, IBufferWriter<byte> writer)
    {
        int contentLength = ContentLength(packet);
        var head = writer.GetSpan(6);
        head[0] = (byte)packet.Type;
        writer.Advance(1 + Oer.Oer.WriteLength(head[1..], contentLength));
        switch (packet)
        {
            case IlpPrepare p: WritePrepare(p, writer); break;
            case IlpFulfill f: WriteFulfill(f, writer); break;
            case IlpReject r: WriteReject(r, writer); break;
            default: throw new ArgumentException($"unknown packet {packet.GetType().Name}", nameof(packet));
        }
    }

    // Reused per thread by the synchronous helpers below: the only allocation left is the result.
    [ThreadStatic] private static ArrayBufferWriter<byte>? t_scratch;

    /// <summary>The encoded packet in a new exact-size array (one allocation).</summary>
    public static byte[] ToArray(IlpPacket packet)
    {
        if (packet is not (IlpPrepare or IlpFulfill)) return Scratch(packet).WrittenSpan.ToArray();
        var bytes = new byte[EncodedLength(packet)];
        Encode(packet, bytes);
        return bytes;
    }

    /// <summary>Encodes into <paramref name="destination"/> (at least <see cref="EncodedLength"/> bytes); returns bytes written.</summary>
    /// <remarks>Prepares and Fulfills (every forwarded packet) are written straight into the span; Rejects go through the scratch writer.</remarks>
    public static int Encode(IlpPacket packet, Span<byte> destination)
    {
        switch (packet)
        {
            case IlpPrepare p: return WritePrepare(p, destination);
            case IlpFulfill f: return WriteFulfill(f, destination);
        }
        var written = Scratch(packet).WrittenSpan;
        if (destination.Length < written.Length) throw new ArgumentException("Destination too small.", nameof(destination));
        written.CopyTo(destination);
        return written.Length;
    }

    private static ArrayBufferWriter<byte> Scratch(IlpPacket packet)
    {
        var scratch = t_scratch ??= new ArrayBufferWriter<byte>(256);
        scratch.ResetWrittenCount();
        try
        {
            Encode(packet, scratch);
        }
        catch
        {
            // An ArgumentException half-way leaves partial bytes; a big packet keeps a big buffer: drop both.
            t_scratch = null;
            throw;
        }
        if (scratch.Capacity > 64 * 1024) t_scratch = null;
        return scratch;
    }

    public static int EncodedLength(IlpPacket packet)
    {
        int content = ContentLength(packet);
        return 1 + Oer.Oer.LengthPrefixSize(content) + content;
    }

    private static int VarLength(int length) => Oer.Oer.LengthPrefixSize(length) + length;

    private static int ContentLength(IlpPacket packet) => packet switch
    {
        IlpPrepare p => 8 + IlpCodec.TimestampLength + IlpCodec.HashLength + VarLength(p.Destination.Length) + VarLength(p.Data.Length),
        IlpFulfill f => IlpCodec.HashLength + VarLength(f.Data.Length),
        IlpReject r => IlpCodec.CodeLength + VarLength(r.TriggeredBy.Length) + VarLength(Encoding.UTF8.GetByteCount(r.Message)) + VarLength(r.Data.Length),
        _ => throw new ArgumentException($"unknown packet {packet.GetType().Name}", nameof(packet)),
    };

    private static void WritePrepare(IlpPrepare p, IBufferWriter<byte> writer)
    {
        if (p.ExecutionCondition.Length != IlpCodec.HashLength) throw new ArgumentException("executionCondition must be 32 bytes");
        var span = writer.GetSpan(8 + IlpCodec.TimestampLength + IlpCodec.HashLength);
        BinaryPrimitives.WriteUInt64BigEndian(span, p.Amount);
        IlpCodec.WriteTimestamp(span.Slice(8, IlpCodec.TimestampLength), p.ExpiresAt);
        p.ExecutionCondition.Span.CopyTo(span[(8 + IlpCodec.TimestampLength)..]);
        writer.Advance(8 + IlpCodec.TimestampLength + IlpCodec.HashLength);
        WriteAscii(writer, p.Destination);
        Oer.Oer.WriteVarOctetString(writer, p.Data.Span);
    }

    /// <summary>The whole Prepare (type, length, contents) into <paramref name="d"/>; the same bytes as the buffer-writer path.</summary>
    private static int WritePrepare(IlpPrepare p, Span<byte> d)
    {
        if (p.ExecutionCondition.Length != IlpCodec.HashLength) throw new ArgumentException("executionCondition must be 32 bytes");
        int at = WriteHead(p, d);
        BinaryPrimitives.WriteUInt64BigEndian(d[at..], p.Amount);
        at += 8;
        IlpCodec.WriteTimestamp(d.Slice(at, IlpCodec.TimestampLength), p.ExpiresAt);
        at += IlpCodec.TimestampLength;
        p.ExecutionCondition.Span.CopyTo(d[at..]);
        at += IlpCodec.HashLength;
        at += Oer.Oer.WriteLength(d[at..], p.Destination.Length);
        at += Encoding.ASCII.GetBytes(p.Destination, d[at..]);
        return WriteData(p.Data.Span, d, at);
    }

    private static int WriteFulfill(IlpFulfill f, Span<byte> d)
    {
        if (f.Fulfillment.Length != IlpCodec.HashLength) throw new ArgumentException("fulfillment must be 32 bytes");
        int at = WriteHead(f, d);
        f.Fulfillment.Span.CopyTo(d[at..]);
        return WriteData(f.Data.Span, d, at + IlpCodec.HashLength);
    }

    /// <summary>Type byte and content length prefix; checks that the whole packet fits.</summary>
    private static int WriteHead(IlpPacket packet, Span<byte> d)
    {
        int content = ContentLength(packet);
        if (d.Length < 1 + Oer.Oer.LengthPrefixSize(content) + content) throw new ArgumentException("Destination too small.", nameof(d));
        d[0] = (byte)packet.Type;
        return 1 + Oer.Oer.WriteLength(d[1..], content);
    }

    private static int WriteData(ReadOnlySpan<byte> data, Span<byte> d, int at)
    {
        at += Oer.Oer.WriteLength(d[at..], data.Length);
        data.CopyTo(d[at..]);
        return at + data.Length;
    }

    private static void WriteFulfill(IlpFulfill f, IBufferWriter<byte> writer)
    {
        if (f.Fulfillment.Length != IlpCodec.HashLength) throw new ArgumentException("fulfillment must be 32 bytes");
        writer.Write(f.Fulfillment.Span);
        Oer.Oer.WriteVarOctetString(writer, f.Data.Span);
    }

    private static void WriteReject(IlpReject r, IBufferWriter<byte> writer)
    {
        if (r.Code.Length != IlpCodec.CodeLength) throw new ArgumentException("reject code must be 3 characters");
        var code = writer.GetSpan(IlpCodec.CodeLength);
        Encoding.ASCII.GetBytes(r.Code, code);
        writer.Advance(IlpCodec.CodeLength);
        WriteAscii(writer, r.TriggeredBy);
        int messageLength = Encoding.UTF8.GetByteCount(r.Message);
        Oer.Oer.WriteLength(writer, messageLength);
        var span = writer.GetSpan(messageLength);
        writer.Advance(Encoding.UTF8.GetBytes(r.Message, span));
        Oer.Oer.WriteVarOctetString(writer, r.Data.Span);
    }

    private static void WriteAscii(IBufferWriter<byte> writer, string value)
    {
        Oer.Oer.WriteLength(writer, value.Length);
        var span = writer.GetSpan(value.Length);
        Encoding.ASCII.GetBytes(value, span);
        writer.Advance(value.Length);
    }
}
