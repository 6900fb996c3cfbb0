using M2M.Core.Ilp;

namespace M2M.Core.Stream;

// STREAM (RFC 29) packet, before encryption:
//
//   version        UInt8        = 1
//   ilpPacketType  UInt8        12 Prepare, 13 Fulfill, 14 Reject (the ILP packet that carries it)
//   sequence       VarUInt      per connection, per direction
//   prepareAmount  VarUInt      in a Prepare: the minimum the receiver must get; in a reply: what it got
//   frames         VarUInt count, then per frame: type UInt8 + contents as a VarOctetString
//
// Unknown frame types are skipped (their contents are length-delimited), as ilp-protocol-stream does.

/// <summary>Frame type bytes of RFC 29 (§5.3), as ilp-protocol-stream numbers them.</summary>
public enum StreamFrameType : byte
{
    ConnectionClose = 0x01,
    ConnectionNewAddress = 0x02,
    ConnectionMaxData = 0x03,
    ConnectionDataBlocked = 0x04,
    ConnectionMaxStreamId = 0x05,
    ConnectionStreamIdBlocked = 0x06,
    ConnectionAssetDetails = 0x07,
    StreamClose = 0x10,
    StreamMoney = 0x11,
    StreamMaxMoney = 0x12,
    StreamMoneyBlocked = 0x13,
    StreamData = 0x14,
    StreamMaxData = 0x15,
    StreamDataBlocked = 0x16,
    StreamReceipt = 0x17,
}

/// <summary>STREAM error codes (RFC 29 §5.2), carried by ConnectionClose and StreamClose.</summary>
public enum StreamErrorCode : byte
{
    NoError = 0x01,
    InternalError = 0x02,
    EndpointBusy = 0x03,
    FlowControlError = 0x04,
    StreamIdError = 0x05,
    StreamStateError = 0x06,
    FrameFormatError = 0x07,
    ProtocolViolation = 0x08,
    ApplicationError = 0x09,
}

/// <summary>One STREAM frame. Frames this node does not interpret are kept as <see cref="OtherFrame"/>.</summary>
public abstract record StreamFrame(StreamFrameType Type);

public sealed record ConnectionCloseFrame(StreamErrorCode Code, string Message) : StreamFrame(StreamFrameType.ConnectionClose);

public sealed record ConnectionNewAddressFrame(string SourceAccount) : StreamFrame(StreamFrameType.ConnectionNewAddress);

public sealed record ConnectionAssetDetailsFrame(string AssetCode, byte AssetScale) : StreamFrame(StreamFrameType.ConnectionAssetDetails);

/// <summary>ConnectionMaxData, ConnectionDataBlocked, ConnectionMaxStreamId, ConnectionStreamIdBlocked: one VarUInt.</summary>
public sealed record ConnectionLimitFrame(StreamFrameType Kind, ulong Value) : StreamFrame(Kind);

public sealed record StreamCloseFrame(ulong StreamId, StreamErrorCode Code, string Message) : StreamFrame(StreamFrameType.StreamClose);

public sealed record StreamMoneyFrame(ulong StreamId, ulong Shares) : StreamFrame(StreamFrameType.StreamMoney);

/// <summary>StreamMaxMoney (receiveMax, totalReceived) and StreamMoneyBlocked (sendMax, totalSent).</summary>
public sealed record StreamMoneyLimitFrame(StreamFrameType Kind, ulong StreamId, ulong Max, ulong Total) : StreamFrame(Kind);

/// <summary>StreamMaxData and StreamDataBlocked: stream id and a byte offset.</summary>
public sealed record StreamDataLimitFrame(StreamFrameType Kind, ulong StreamId, ulong Offset) : StreamFrame(Kind);

public sealed record StreamDataFrame(ulong StreamId, ulong Offset, ReadOnlyMemory<byte> Data) : StreamFrame(StreamFrameType.StreamData);

public sealed record StreamReceiptFrame(ulong StreamId, ReadOnlyMemory<byte> Receipt) : StreamFrame(StreamFrameType.StreamReceipt);

/// <summary>A frame kept as it came (type byte and contents), so it can be re-encoded unchanged.</summary>
public sealed record OtherFrame(byte RawType, ReadOnlyMemory<byte> Contents) : StreamFrame((StreamFrameType)RawType);

/// <summary>A decrypted STREAM packet.</summary>
public sealed record StreamPacket(IlpPacketType IlpPacketType, ulong Sequence, ulong PrepareAmount, IReadOnlyList<StreamFrame> Frames)
{
    public const byte Version = 1;
}
