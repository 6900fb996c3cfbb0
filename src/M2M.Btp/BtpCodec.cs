using System.Buffers;
using System.Buffers.Binary;
using M2M.Core.Oer;

namespace M2M.Btp;

/// <summary>
/// BTP 2.0 codec (RFC 23), byte-identical to the npm package btp-packet@2.2.1.
/// <code>
/// BilateralTransferProtocolPacket ::= SEQUENCE {
///     type      CALL.&amp;typeId ({CallSet}),          -- UInt8: 1 Response, 2 Error, 6 Message, 7 Transfer
///     requestId UInt32,                             -- big-endian
///     data      CALL.&amp;Type ({CallSet}{@type})    -- OER open type: length prefix + contents
/// }
/// Response ::= SEQUENCE { protocolData ProtocolData }
/// Message  ::= SEQUENCE { protocolData ProtocolData }
/// Transfer ::= SEQUENCE { amount UInt64, protocolData ProtocolData }       -- amount: 8 bytes BE
/// Error    ::= SEQUENCE {
///     code         IA5String (SIZE (3)),            -- 3 raw bytes, no length prefix
///     name         IA5String,                       -- length-prefixed
///     triggeredAt  GeneralizedTime,                 -- length-prefixed "yyyyMMddHHmmss.fffZ"
///     data         OCTET STRING,                    -- length-prefixed
///     protocolData ProtocolData
/// }
/// ProtocolData ::= SEQUENCE OF SEQUENCE {           -- count: 1 byte n, then n bytes BE
///     protocolName IA5String,                       -- length-prefixed
///     contentType  UInt8,                           -- 0 octet-stream, 1 text/plain utf-8, 2 json
///     data         OCTET STRING                     -- length-prefixed
/// }
/// </code>
/// Length prefixes are canonical OER (RFC 30). Strings are mapped byte-for-char (Latin-1), so
/// every frame that decodes re-encodes to the same bytes.
/// </summary>
public static class BtpCodec
{
    private const int HeaderSize = 5; // type + requestId
    private const int ErrorCodeSize = 3;
    private const int AmountSize = 8;
    private const int MaxCountBytes = 8;
    private const byte MaxLatin1Char = 0xFF;

    /// <summary>Smallest protocolData entry: empty name, content type, empty data.</summary>
    private const int MinEntrySize = 3;

    /// <summary>Cap on any declared length; keeps prefix + length far from int overflow.</summary>
    private const int MaxFieldLength = int.MaxValue / 2;

    /// <summary>
    /// Decodes one complete frame. Never throws. Returns <see cref="OperationStatus.NeedMoreData"/>
    /// when the frame ends early and <see cref="OperationStatus.InvalidData"/> when it is malformed or
    /// has trailing bytes. On success, Data/ErrorData slices reference <paramref name="frame"/>.
    /// </summary>
    public static OperationStatus TryDecode(ReadOnlyMemory<byte> frame, out BtpPacket? packet, out string? error)
    {
        var reader = new Reader(frame);
        var status = DecodeEnvelope(ref reader, out packet);
        error = status == OperationStatus.Done ? null : reader.Error;
        if (status != OperationStatus.Done) packet = null;
        return status;
    }

    /// <summary>Exact number of bytes <see cref="Encode(BtpPacket, IBufferWriter{byte})"/> writes.</summary>
    public static int GetEncodedLength(BtpPacket packet)
    {
        int contents = ContentsLength(packet);
        return checked(HeaderSize + Oer.LengthPrefixSize(contents) + contents);
    }

    /// <summary>Encodes <paramref name="packet"/>. Throws <see cref="ArgumentException"/> for unencodable fields.</summary>
    public static void Encode(BtpPacket packet, IBufferWriter<byte> writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        int length = GetEncodedLength(packet);
        Write(packet, writer.GetSpan(length)[..length]);
        writer.Advance(length);
    }

    public static byte[] Encode(BtpPacket packet)
    {
        var bytes = new byte[GetEncodedLength(packet)];
        Write(packet, bytes);
        return bytes;
    }

    /// <summary>Encodes into <paramref name="destination"/>; returns bytes written.</summary>
    public static int Encode(BtpPacket packet, Span<byte> destination)
    {
        int length = GetEncodedLength(packet);
        if (destination.Length < length) throw new ArgumentException("Destination too small.", nameof(destination));
        Write(packet, destination[..length]);
        return length;
    }

    /// <summary>
    /// Length of a MESSAGE or RESPONSE frame whose only protocol data is one "ilp" octet-stream entry of
    /// <paramref name="ilpLength"/> bytes (the frame every ILP packet travels in).
    /// </summary>
    public static int GetIlpFrameLength(int ilpLength)
    {
        int contents = IlpContentsLength(ilpLength);
        return checked(HeaderSize + Oer.LengthPrefixSize(contents) + contents);
    }

    /// <summary>
    /// Writes the frame <see cref="BtpPacket.IlpMessage"/> / <see cref="BtpPacket.IlpResponse"/> would encode
    /// to (byte-identical), except for the ILP bytes: returns the slice of <paramref name="destination"/>
    /// where exactly <paramref name="ilpLength"/> ILP bytes go. No BtpPacket or protocol-data array per frame.
    /// </summary>
    public static Span<byte> WriteIlpFrameHeader(BtpPacketType type, uint requestId, int ilpLength, Span<byte> destination)
    {
        if (type is not (BtpPacketType.Message or BtpPacketType.Response))
            throw new ArgumentException("an ilp frame is a MESSAGE or a RESPONSE", nameof(type));
        int length = GetIlpFrameLength(ilpLength);
        if (destination.Length < length) throw new ArgumentException("Destination too small.", nameof(destination));
        var w = new SpanWriter(destination[..length]);
        w.WriteByte((byte)type);
        w.WriteUInt32(requestId);
        w.WriteLength(IlpContentsLength(ilpLength));
        w.WriteByte(1); // count: one length byte,
        w.WriteByte(1); // then the count itself
        w.WriteVarLatin1(BtpProtocolNames.Ilp);
        w.WriteByte((byte)BtpContentType.ApplicationOctetStream);
        w.WriteLength(ilpLength);
        return destination.Slice(length - ilpLength, ilpLength);
    }

    /// <summary>
    /// The read side of <see cref="WriteIlpFrameHeader"/>: true when <paramref name="frame"/> is a MESSAGE or RESPONSE
    /// whose only protocol data is one entry named "ilp" (any content type), with <paramref name="ilp"/> its data,
    /// a slice of <paramref name="frame"/>. Such a frame decodes with <see cref="TryDecode"/> to the same values;
    /// anything else (other types, other or more entries, malformed) returns false, for <see cref="TryDecode"/>
    /// to handle. Never throws, allocates nothing.
    /// </summary>
    public static bool TryReadIlpFrame(ReadOnlyMemory<byte> frame, out BtpPacketType type, out uint requestId, out ReadOnlyMemory<byte> ilp)
    {
        type = default;
        requestId = 0;
        ilp = default;
        var r = new Reader(frame);
        if (!r.TryReadByte(out byte typeByte) || (BtpPacketType)typeByte is not (BtpPacketType.Message or BtpPacketType.Response)) return false;
        if (!r.TryReadUInt32(out uint id)) return false;
        if (r.TryReadVarOctets(out var contents, "contents") != OperationStatus.Done || !r.IsEmpty) return false;
        var c = new Reader(contents);
        // The count as ReadCount requires it for one entry: one length byte, then 1.
        if (!c.TryReadByte(out byte countBytes) || countBytes != 1 || !c.TryReadByte(out byte count) || count != 1) return false;
        if (c.TryReadVarOctets(out var name, "protocolName") != OperationStatus.Done || !Latin1Equals(name.Span, BtpProtocolNames.Ilp)) return false;
        if (!c.TryReadByte(out _)) return false; // content type: not checked by the general decode either
        if (c.TryReadVarOctets(out var data, "protocol data") != OperationStatus.Done || !c.IsEmpty) return false;
        type = (BtpPacketType)typeByte;
        requestId = id;
        ilp = data;
        return true;
    }

    private static int IlpContentsLength(int ilpLength) =>
        checked(2 + VarLength(BtpProtocolNames.Ilp.Length) + 1 + VarLength(ilpLength));

    // ---- decoding ----

    private static OperationStatus DecodeEnvelope(ref Reader r, out BtpPacket? packet)
    {
        packet = null;
        if (!r.TryReadByte(out byte typeByte)) return r.Fail(OperationStatus.NeedMoreData, "frame is empty");
        var type = (BtpPacketType)typeByte;
        if (!IsBtp2Type(type)) return r.Fail(OperationStatus.InvalidData, $"unsupported packet type {typeByte}");
        if (!r.TryReadUInt32(out uint requestId)) return r.Fail(OperationStatus.NeedMoreData, "truncated requestId");
        var status = r.TryReadVarOctets(out var contents, "contents");
        if (status != OperationStatus.Done) return status;
        if (!r.IsEmpty) return r.Fail(OperationStatus.InvalidData, "trailing bytes after envelope");

        var c = new Reader(contents);
        status = DecodeContents(ref c, type, requestId, out packet);
        // The envelope fixed the contents length, so running short inside it is malformed, not truncated.
        if (status == OperationStatus.NeedMoreData) status = OperationStatus.InvalidData;
        if (status == OperationStatus.Done && !c.IsEmpty) status = c.Fail(OperationStatus.InvalidData, "trailing bytes in contents");
        r.Error = c.Error;
        return status;
    }

    private static OperationStatus DecodeContents(ref Reader r, BtpPacketType type, uint requestId, out BtpPacket? packet)
    {
        packet = null;
        OperationStatus status;
        IReadOnlyList<BtpProtocolData> protocolData;
        switch (type)
        {
            case BtpPacketType.Transfer:
                if (!r.TryReadUInt64(out ulong amount)) return r.Fail(OperationStatus.NeedMoreData, "truncated amount");
                status = ReadProtocolData(ref r, out protocolData);
                if (status == OperationStatus.Done) packet = BtpPacket.Transfer(requestId, amount, protocolData);
                return status;
            case BtpPacketType.Error:
                return ReadError(ref r, requestId, out packet);
            default:
                status = ReadProtocolData(ref r, out protocolData);
                if (status == OperationStatus.Done) packet = new BtpPacket { Type = type, RequestId = requestId, ProtocolData = protocolData };
                return status;
        }
    }

    private static OperationStatus ReadError(ref Reader r, uint requestId, out BtpPacket? packet)
    {
        packet = null;
        if (!r.TryReadBytes(ErrorCodeSize, out var code)) return r.Fail(OperationStatus.NeedMoreData, "truncated error code");
        var status = r.TryReadVarOctets(out var name, "error name");
        if (status != OperationStatus.Done) return status;
        status = r.TryReadVarOctets(out var triggeredAt, "triggeredAt");
        if (status != OperationStatus.Done) return status;
        status = r.TryReadVarOctets(out var data, "error data");
        if (status != OperationStatus.Done) return status;
        status = ReadProtocolData(ref r, out var protocolData);
        if (status != OperationStatus.Done) return status;
        packet = new BtpPacket
        {
            Type = BtpPacketType.Error,
            RequestId = requestId,
            Code = Latin1(code.Span),
            Name = Latin1(name.Span),
            TriggeredAt = Latin1(triggeredAt.Span),
            ErrorData = data,
            ProtocolData = protocolData,
        };
        return OperationStatus.Done;
    }

    private static OperationStatus ReadProtocolData(ref Reader r, out IReadOnlyList<BtpProtocolData> protocolData)
    {
        protocolData = [];
        var status = ReadCount(ref r, out int count);
        if (status != OperationStatus.Done) return status;
        var entries = new BtpProtocolData[count];
        for (int i = 0; i < count; i++)
        {
            status = ReadEntry(ref r, out entries[i]);
            if (status != OperationStatus.Done) return status;
        }
        protocolData = entries;
        return OperationStatus.Done;
    }

    /// <summary>
    /// Entry count: a length byte n, then n big-endian bytes. Must be minimal (btp-packet tolerates
    /// padding but never writes it); this keeps decode → encode byte-identical.
    /// </summary>
    private static OperationStatus ReadCount(ref Reader r, out int count)
    {
        count = 0;
        if (!r.TryReadByte(out byte n)) return r.Fail(OperationStatus.NeedMoreData, "truncated protocolData count");
        if (n is 0 or > MaxCountBytes) return r.Fail(OperationStatus.InvalidData, "invalid protocolData count length");
        if (!r.TryReadBytes(n, out var bytes)) return r.Fail(OperationStatus.NeedMoreData, "truncated protocolData count");
        ulong value = 0;
        foreach (byte b in bytes.Span) value = (value << 8) | b;
        if (n != Oer.VarUIntContentSize(value)) return r.Fail(OperationStatus.InvalidData, "non-canonical protocolData count");
        // Bounds the allocation by the bytes actually present.
        if (value > (ulong)(r.Remaining / MinEntrySize)) return r.Fail(OperationStatus.InvalidData, "protocolData count exceeds frame size");
        count = (int)value;
        return OperationStatus.Done;
    }

    private static OperationStatus ReadEntry(ref Reader r, out BtpProtocolData entry)
    {
        entry = default;
        var status = r.TryReadVarOctets(out var name, "protocolName");
        if (status != OperationStatus.Done) return status;
        if (!r.TryReadByte(out byte contentType)) return r.Fail(OperationStatus.NeedMoreData, "truncated contentType");
        status = r.TryReadVarOctets(out var data, "protocol data");
        if (status != OperationStatus.Done) return status;
        entry = new BtpProtocolData(ProtocolName(name.Span), (BtpContentType)contentType, data);
        return OperationStatus.Done;
    }

    private static bool IsBtp2Type(BtpPacketType type) => type is BtpPacketType.Response
        or BtpPacketType.Error or BtpPacketType.Message or BtpPacketType.Transfer;

    private static readonly string[] KnownNames =
        [BtpProtocolNames.Ilp, BtpProtocolNames.Auth, BtpProtocolNames.AuthUsername, BtpProtocolNames.AuthToken];

    /// <summary>Returns cached strings for the common names so the hot path does not allocate.</summary>
    private static string ProtocolName(ReadOnlySpan<byte> bytes)
    {
        foreach (var known in KnownNames)
        {
            if (Latin1Equals(bytes, known)) return known;
        }
        return Latin1(bytes);
    }

    private static bool Latin1Equals(ReadOnlySpan<byte> bytes, string text)
    {
        if (bytes.Length != text.Length) return false;
        for (int i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] != text[i]) return false;
        }
        return true;
    }

    private static string Latin1(ReadOnlySpan<byte> bytes) => System.Text.Encoding.Latin1.GetString(bytes);

    // ---- encoding ----

    private static int ContentsLength(BtpPacket packet)
    {
        ArgumentNullException.ThrowIfNull(packet);
        int pd = ProtocolDataLength(packet.ProtocolData);
        return packet.Type switch
        {
            BtpPacketType.Response or BtpPacketType.Message => pd,
            BtpPacketType.Transfer => checked(AmountSize + pd),
            BtpPacketType.Error => checked(ErrorCodeSize + VarLength(CheckedLatin1(packet.Name, "Name"))
                + VarLength(CheckedLatin1(packet.TriggeredAt, "TriggeredAt")) + VarLength(packet.ErrorData.Length) + pd),
            _ => throw new ArgumentException($"BTP 2.0 has no packet type {packet.Type}.", nameof(packet)),
        };
    }

    private static int ProtocolDataLength(IReadOnlyList<BtpProtocolData> protocolData)
    {
        ArgumentNullException.ThrowIfNull(protocolData);
        int total = 1 + Oer.VarUIntContentSize((ulong)protocolData.Count);
        // Indexed, not foreach: enumerating an IReadOnlyList boxes its enumerator on every frame (issue 7's profile).
        for (int i = 0; i < protocolData.Count; i++)
        {
            var entry = protocolData[i];
            int name = CheckedLatin1(entry.ProtocolName, "ProtocolName");
            total = checked(total + VarLength(name) + 1 + VarLength(entry.Data.Length));
        }
        return total;
    }

    private static int VarLength(int length) => checked(Oer.LengthPrefixSize(length) + length);

    /// <summary>Validates that the string maps to bytes one-to-one; returns its byte length.</summary>
    private static int CheckedLatin1(string? value, string field)
    {
        ArgumentNullException.ThrowIfNull(value, field);
        foreach (char ch in value)
        {
            if (ch > MaxLatin1Char) throw new ArgumentException($"{field} contains a non-Latin-1 character.", field);
        }
        return value.Length;
    }

    private static void Write(BtpPacket packet, Span<byte> destination)
    {
        if (packet.Type == BtpPacketType.Error && (CheckedLatin1(packet.Code, "Code") != ErrorCodeSize))
            throw new ArgumentException("Error code must be exactly 3 characters.", nameof(packet));
        var w = new SpanWriter(destination);
        w.WriteByte((byte)packet.Type);
        w.WriteUInt32(packet.RequestId);
        w.WriteLength(ContentsLength(packet));
        switch (packet.Type)
        {
            case BtpPacketType.Transfer:
                w.WriteUInt64(packet.Amount);
                break;
            case BtpPacketType.Error:
                w.WriteLatin1(packet.Code);
                w.WriteVarLatin1(packet.Name);
                w.WriteVarLatin1(packet.TriggeredAt);
                w.WriteVarBytes(packet.ErrorData.Span);
                break;
        }
        WriteProtocolData(ref w, packet.ProtocolData);
    }

    private static void WriteProtocolData(ref SpanWriter w, IReadOnlyList<BtpProtocolData> protocolData)
    {
        ulong count = (ulong)protocolData.Count;
        int n = Oer.VarUIntContentSize(count);
        w.WriteByte((byte)n);
        for (int i = n - 1; i >= 0; i--) w.WriteByte((byte)(count >> (8 * i)));
        for (int i = 0; i < protocolData.Count; i++)
        {
            var entry = protocolData[i];
            w.WriteVarLatin1(entry.ProtocolName);
            w.WriteByte((byte)entry.ContentType);
            w.WriteVarBytes(entry.Data.Span);
        }
    }

    private ref struct SpanWriter(Span<byte> destination)
    {
        private readonly Span<byte> _destination = destination;
        private int _position;

        public void WriteByte(byte value) => _destination[_position++] = value;

        public void WriteUInt32(uint value)
        {
            BinaryPrimitives.WriteUInt32BigEndian(_destination[_position..], value);
            _position += sizeof(uint);
        }

        public void WriteUInt64(ulong value)
        {
            BinaryPrimitives.WriteUInt64BigEndian(_destination[_position..], value);
            _position += sizeof(ulong);
        }

        public void WriteLength(int length) => _position += Oer.WriteLength(_destination[_position..], length);

        public void WriteVarBytes(ReadOnlySpan<byte> bytes)
        {
            WriteLength(bytes.Length);
            bytes.CopyTo(_destination[_position..]);
            _position += bytes.Length;
        }

        public void WriteLatin1(string text)
        {
            foreach (char ch in text) WriteByte((byte)ch);
        }

        public void WriteVarLatin1(string text)
        {
            WriteLength(text.Length);
            WriteLatin1(text);
        }
    }

    /// <summary>Bounds-checked cursor over a frame; every read checks length before slicing.</summary>
    private ref struct Reader(ReadOnlyMemory<byte> buffer)
    {
        private readonly ReadOnlyMemory<byte> _buffer = buffer;
        private int _position;

        public string? Error;

        public readonly int Remaining => _buffer.Length - _position;
        public readonly bool IsEmpty => Remaining == 0;

        public OperationStatus Fail(OperationStatus status, string message)
        {
            Error = message;
            return status;
        }

        public bool TryReadByte(out byte value)
        {
            value = 0;
            if (Remaining < 1) return false;
            value = _buffer.Span[_position++];
            return true;
        }

        public bool TryReadUInt32(out uint value)
        {
            value = 0;
            if (Remaining < sizeof(uint)) return false;
            value = BinaryPrimitives.ReadUInt32BigEndian(_buffer.Span[_position..]);
            _position += sizeof(uint);
            return true;
        }

        public bool TryReadUInt64(out ulong value)
        {
            value = 0;
            if (Remaining < sizeof(ulong)) return false;
            value = BinaryPrimitives.ReadUInt64BigEndian(_buffer.Span[_position..]);
            _position += sizeof(ulong);
            return true;
        }

        public bool TryReadBytes(int count, out ReadOnlyMemory<byte> value)
        {
            value = default;
            if (count < 0 || Remaining < count) return false;
            value = _buffer.Slice(_position, count);
            _position += count;
            return true;
        }

        public OperationStatus TryReadVarOctets(out ReadOnlyMemory<byte> value, string field)
        {
            value = default;
            var status = Oer.TryReadVarOctetString(_buffer.Span[_position..], MaxFieldLength, out Range range, out int consumed);
            if (status == OperationStatus.NeedMoreData) return Fail(status, $"truncated {field}");
            if (status != OperationStatus.Done) return Fail(OperationStatus.InvalidData, $"invalid length prefix for {field}");
            value = _buffer.Slice(_position, consumed)[range];
            _position += consumed;
            return OperationStatus.Done;
        }
    }
}
