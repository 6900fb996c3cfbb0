using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace M2M.Core.Ilp;

/// <summary>What ILDCP tells a child: its address and the asset of the link.</summary>
public sealed record IldcpResponse(string ClientAddress, byte AssetScale, string AssetCode);

/// <summary>
/// ILDCP (RFC 31): a child sends a Prepare to <c>peer.config</c> with the condition of the
/// all-zero fulfillment; the parent answers with a Fulfill whose data is
/// <code>clientAddress VarIA5String, assetScale UInt8, assetCode VarUTF8String</code>
/// </summary>
public static class Ildcp
{
    public const string Destination = "peer.config";

    /// <summary>The fulfillment of every ILDCP request: 32 zero bytes.</summary>
    public static readonly ReadOnlyMemory<byte> Fulfillment = new byte[IlpCodec.HashLength];

    /// <summary>sha256 of <see cref="Fulfillment"/>.</summary>
    public static readonly ReadOnlyMemory<byte> Condition = SHA256.HashData(new byte[IlpCodec.HashLength]);

    public static IlpFulfill CreateFulfill(IldcpResponse response)
    {
        var writer = new ArrayBufferWriter<byte>();
        Oer.Oer.WriteVarOctetString(writer, Encoding.ASCII.GetBytes(response.ClientAddress));
        writer.Write([response.AssetScale]);
        Oer.Oer.WriteVarOctetString(writer, Encoding.UTF8.GetBytes(response.AssetCode));
        return new IlpFulfill { Fulfillment = Fulfillment, Data = writer.WrittenMemory };
    }

    public static bool TryParseResponse(ReadOnlySpan<byte> data, out IldcpResponse? response)
    {
        response = null;
        if (Oer.Oer.TryReadVarOctetString(data, IlpAddress.MaxLength, out var addr, out int used) != OperationStatus.Done) return false;
        string address = Encoding.ASCII.GetString(data[addr]);
        data = data[used..];
        if (data.IsEmpty) return false;
        byte scale = data[0];
        if (Oer.Oer.TryReadVarOctetString(data[1..], 255, out var code, out _) != OperationStatus.Done) return false;
        response = new IldcpResponse(address, scale, Encoding.UTF8.GetString(data[1..][code]));
        return true;
    }

    public static IlpPrepare CreateRequest(DateTimeOffset expiresAt) => new()
    {
        Amount = 0,
        ExpiresAt = expiresAt,
        ExecutionCondition = Condition,
        Destination = Destination,
    };
}
