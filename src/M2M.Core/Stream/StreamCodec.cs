using System.Buffers;
using System.Text;
using M2M.Core.Ilp;
using M2M.Core.Oer;

namespace M2M.Core.Stream;

/// <summary>
/// Encodes and decodes decrypted STREAM packets (layout above <see cref="StreamPacket"/>),
/// byte-compatible with ilp-protocol-stream 2.x. Decoding never throws: bad input is a false
/// return with a reason.
/// </summary>
public static class StreamCodec
{
    /// <summary>More frames than this in one packet is refused (a 32 KiB packet cannot carry more than ~16k).</summary>
    public const int MaxFrames = 16_384;

    public static byte[] Encode(StreamPacket packet)
    {
        var writer = new ArrayBufferWriter<byte>(64);
        WriteByte(writer, StreamPacket.Version);
        WriteByte(writer, (byte)packet.IlpPacketType);
        Oer.Oer.WriteVarUInt(writer, packet.Sequence);
        Oer.Oer.WriteVarUInt(writer, packet.PrepareAmount);
        Oer.Oer.WriteVarUInt(writer, (ulong)packet.Frames.Count);
        var contents = new ArrayBufferWriter<byte>(32);
        foreach (var frame in packet.Frames)
        {
            contents.ResetWrittenCount();
            WriteContents(contents, frame);
            WriteByte(writer, frame is OtherFrame other ? other.RawType : (byte)frame.Type);
            Oer.Oer.WriteVarOctetString(writer, contents.WrittenSpan);
        }
        return writer.WrittenSpan.ToArray();
    }

    public static bool TryDecode(ReadOnlyMemory<byte> source, out StreamPacket? packet, out string? error)
    {
        packet = null;
        var r = new Reader(source);
        if (!r.Byte(out byte version)) return Fail("empty packet", out error);
        if (version != StreamPacket.Version) return Fail($"unsupported STREAM version {version}", out error);
        if (!r.Byte(out byte type) || type is < 12 or > 14) return Fail("bad ILP packet type", out error);
        if (!r.VarUInt(out ulong sequence) || !r.VarUInt(out ulong amount) || !r.VarUInt(out ulong count))
            return Fail("truncated header", out error);
        if (count > MaxFrames) return Fail($"{count} frames is more than {MaxFrames}", out error);
        var frames = new List<StreamFrame>((int)Math.Min(count, 16));
        for (ulong i = 0; i < count; i++)
        {
            if (!r.Byte(out byte frameType) || !r.Octets(out var contents)) return Fail($"frame {i} is truncated", out error);
            var frame = DecodeFrame(frameType, contents);
            if (frame is null) return Fail($"frame {i} (type {frameType}) is malformed", out error);
            frames.Add(frame);
        }
        // Bytes after the frames are padding, which the RFC allows.
        packet = new StreamPacket((IlpPacketType)type, sequence, amount, frames);
        error = null;
        return true;
    }

    private static StreamFrame? DecodeFrame(byte type, ReadOnlyMemory<byte> contents)
    {
        var r = new Reader(contents);
        ulong a, b, c;
        byte u8;
        ReadOnlyMemory<byte> s;
        return (StreamFrameType)type switch
        {
            StreamFrameType.ConnectionClose => r.Byte(out u8) && r.Octets(out s) ? new ConnectionCloseFrame((StreamErrorCode)u8, Utf8(s)) : null,
            StreamFrameType.ConnectionNewAddress => r.Octets(out s) ? new ConnectionNewAddressFrame(Utf8(s)) : null,
            StreamFrameType.ConnectionAssetDetails => r.Octets(out s) && r.Byte(out u8) ? new ConnectionAssetDetailsFrame(Utf8(s), u8) : null,
            StreamFrameType.ConnectionMaxData or StreamFrameType.ConnectionDataBlocked or StreamFrameType.ConnectionMaxStreamId
                or StreamFrameType.ConnectionStreamIdBlocked => r.VarUInt(out a) ? new ConnectionLimitFrame((StreamFrameType)type, a) : null,
            StreamFrameType.StreamClose => r.VarUInt(out a) && r.Byte(out u8) && r.Octets(out s) ? new StreamCloseFrame(a, (StreamErrorCode)u8, Utf8(s)) : null,
            StreamFrameType.StreamMoney => r.VarUInt(out a) && r.VarUInt(out b) ? new StreamMoneyFrame(a, b) : null,
            StreamFrameType.StreamMaxMoney or StreamFrameType.StreamMoneyBlocked =>
                r.VarUInt(out a) && r.SaturatingVarUInt(out b) && r.VarUInt(out c) ? new StreamMoneyLimitFrame((StreamFrameType)type, a, b, c) : null,
            StreamFrameType.StreamData => r.VarUInt(out a) && r.VarUInt(out b) && r.Octets(out s) ? new StreamDataFrame(a, b, s) : null,
            StreamFrameType.StreamMaxData or StreamFrameType.StreamDataBlocked =>
                r.VarUInt(out a) && r.VarUInt(out b) ? new StreamDataLimitFrame((StreamFrameType)type, a, b) : null,
            StreamFrameType.StreamReceipt => r.VarUInt(out a) && r.Octets(out s) ? new StreamReceiptFrame(a, s) : null,
            _ => new OtherFrame(type, contents),
        };
    }

    private static void WriteContents(ArrayBufferWriter<byte> w, StreamFrame frame)
    {
        switch (frame)
        {
            case ConnectionCloseFrame f: WriteByte(w, (byte)f.Code); WriteString(w, f.Message); break;
            case ConnectionNewAddressFrame f: WriteString(w, f.SourceAccount); break;
            case ConnectionAssetDetailsFrame f: WriteString(w, f.AssetCode); WriteByte(w, f.AssetScale); break;
            case ConnectionLimitFrame f: Oer.Oer.WriteVarUInt(w, f.Value); break;
            case StreamCloseFrame f: Oer.Oer.WriteVarUInt(w, f.StreamId); WriteByte(w, (byte)f.Code); WriteString(w, f.Message); break;
            case StreamMoneyFrame f: Oer.Oer.WriteVarUInt(w, f.StreamId); Oer.Oer.WriteVarUInt(w, f.Shares); break;
            case StreamMoneyLimitFrame f: Oer.Oer.WriteVarUInt(w, f.StreamId); Oer.Oer.WriteVarUInt(w, f.Max); Oer.Oer.WriteVarUInt(w, f.Total); break;
            case StreamDataLimitFrame f: Oer.Oer.WriteVarUInt(w, f.StreamId); Oer.Oer.WriteVarUInt(w, f.Offset); break;
            case StreamDataFrame f: Oer.Oer.WriteVarUInt(w, f.StreamId); Oer.Oer.WriteVarUInt(w, f.Offset); Oer.Oer.WriteVarOctetString(w, f.Data.Span); break;
            case StreamReceiptFrame f: Oer.Oer.WriteVarUInt(w, f.StreamId); Oer.Oer.WriteVarOctetString(w, f.Receipt.Span); break;
            case OtherFrame f: w.Write(f.Contents.Span); break;
            default: throw new ArgumentException($"unknown frame {frame.GetType().Name}", nameof(frame));
        }
    }

    private static void WriteByte(IBufferWriter<byte> w, byte value)
    {
        w.GetSpan(1)[0] = value;
        w.Advance(1);
    }

    private static void WriteString(IBufferWriter<byte> w, string value) => Oer.Oer.WriteVarOctetString(w, Encoding.UTF8.GetBytes(value));

    private static string Utf8(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    private static bool Fail(string reason, out string? error)
    {
        error = reason;
        return false;
    }

    /// <summary>A forward-only reader over a memory block; every read is bounds-checked.</summary>
    private struct Reader(ReadOnlyMemory<byte> source)
    {
        private int _at;

        public bool Byte(out byte value)
        {
            value = 0;
            if (_at >= source.Length) return false;
            value = source.Span[_at++];
            return true;
        }

        public bool VarUInt(out ulong value)
        {
            bool ok = Oer.Oer.TryReadVarUInt(source.Span[_at..], out value, out int used) == OperationStatus.Done;
            if (ok) _at += used;
            return ok;
        }

        /// <summary>A VarUInt longer than 8 bytes reads as ulong.MaxValue (ilp-protocol-stream's saturatingReadVarUInt).</summary>
        public bool SaturatingVarUInt(out ulong value)
        {
            if (!Octets(out var bytes) || bytes.IsEmpty)
            {
                value = 0;
                return false;
            }
            if (bytes.Length > 8)
            {
                value = ulong.MaxValue;
                return true;
            }
            value = 0;
            foreach (byte b in bytes.Span) value = (value << 8) | b;
            return true;
        }

        public bool Octets(out ReadOnlyMemory<byte> value)
        {
            value = default;
            if (Oer.Oer.TryReadVarOctetString(source.Span[_at..], int.MaxValue, out Range range, out int used) != OperationStatus.Done) return false;
            var (offset, length) = range.GetOffsetAndLength(source.Length - _at);
            value = source.Slice(_at + offset, length);
            _at += used;
            return true;
        }
    }
}
