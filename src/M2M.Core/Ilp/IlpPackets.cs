namespace M2M.Core.Ilp;

/// <summary>ILPv4 packet type bytes (RFC 27).</summary>
public enum IlpPacketType : byte
{
    Prepare = 12,
    Fulfill = 13,
    Reject = 14,
}

/// <summary>Base of the three ILPv4 packets. Byte fields are slices of the buffer they were read from.</summary>
public abstract class IlpPacket
{
    public abstract IlpPacketType Type { get; }
}

/// <summary>An ILP Prepare: a conditional transfer of <see cref="Amount"/> toward <see cref="Destination"/>.</summary>
public sealed class IlpPrepare : IlpPacket
{
    public override IlpPacketType Type => IlpPacketType.Prepare;
    public required ulong Amount { get; init; }
    /// <summary>UTC expiry, millisecond precision (the wire format's).</summary>
    public required DateTimeOffset ExpiresAt { get; init; }
    /// <summary>32 bytes: sha256 of the fulfillment.</summary>
    public required ReadOnlyMemory<byte> ExecutionCondition { get; init; }
    public required string Destination { get; init; }
    public ReadOnlyMemory<byte> Data { get; init; }
}

/// <summary>The reply to a Prepare: either a Fulfill or a Reject.</summary>
public abstract class IlpReply : IlpPacket;

public sealed class IlpFulfill : IlpReply
{
    public override IlpPacketType Type => IlpPacketType.Fulfill;
    /// <summary>32 bytes whose sha256 is the Prepare's condition.</summary>
    public required ReadOnlyMemory<byte> Fulfillment { get; init; }
    public ReadOnlyMemory<byte> Data { get; init; }
}

public sealed class IlpReject : IlpReply
{
    public override IlpPacketType Type => IlpPacketType.Reject;
    public required string Code { get; init; }
    /// <summary>Address of the node that created the reject; may be empty.</summary>
    public required string TriggeredBy { get; init; }
    public string Message { get; init; } = "";
    public ReadOnlyMemory<byte> Data { get; init; }

    public override string ToString() => $"{Code} {Message} (by {TriggeredBy})";
}
