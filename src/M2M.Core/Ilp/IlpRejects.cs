using System.Buffers.Binary;

namespace M2M.Core.Ilp;

/// <summary>Builds rejects the connector itself originates (triggeredBy = our address).</summary>
public static class IlpRejects
{
    public static IlpReject Create(string code, string triggeredBy, string message) =>
        new() { Code = code, TriggeredBy = triggeredBy, Message = message };

    /// <summary>F08 carries receivedAmount and maximumAmount as two big-endian UInt64 (as ilp-connector does).</summary>
    public static IlpReject AmountTooLarge(string triggeredBy, ulong received, ulong maximum)
    {
        var data = new byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(data, received);
        BinaryPrimitives.WriteUInt64BigEndian(data.AsSpan(8), maximum);
        return new IlpReject
        {
            Code = IlpErrorCode.F08_AmountTooLarge,
            TriggeredBy = triggeredBy,
            Message = $"packet amount {received} exceeds the maximum {maximum}",
            Data = data,
        };
    }

    /// <summary>Reads the (received, maximum) pair from an F08 reject's data.</summary>
    public static bool TryReadAmountTooLarge(IlpReject reject, out ulong received, out ulong maximum)
    {
        received = maximum = 0;
        if (reject.Code != IlpErrorCode.F08_AmountTooLarge || reject.Data.Length != 16) return false;
        received = BinaryPrimitives.ReadUInt64BigEndian(reject.Data.Span);
        maximum = BinaryPrimitives.ReadUInt64BigEndian(reject.Data.Span[8..]);
        return true;
    }
}
