using System.Globalization;
using System.Text;

namespace M2M.Btp;

/// <summary>
/// A decoded or to-be-encoded BTP 2.0 packet. Fields that do not belong to <see cref="Type"/>
/// (Amount outside TRANSFER, Code/Name/TriggeredAt/ErrorData outside ERROR) are ignored by the encoder.
/// </summary>
public sealed class BtpPacket
{
    /// <summary>GeneralizedTime layout btp-packet writes, e.g. 20171231235959.123Z.</summary>
    public const string TriggeredAtFormat = "yyyyMMddHHmmss.fff'Z'";

    public required BtpPacketType Type { get; init; }
    public uint RequestId { get; init; }
    public IReadOnlyList<BtpProtocolData> ProtocolData { get; init; } = [];

    /// <summary>TRANSFER only: amount in the peer's base units.</summary>
    public ulong Amount { get; init; }

    /// <summary>ERROR only: three-character RFC 23 code, e.g. F00.</summary>
    public string Code { get; init; } = "";

    /// <summary>ERROR only: RFC 23 error name, e.g. NotAcceptedError.</summary>
    public string Name { get; init; } = "";

    /// <summary>ERROR only: GeneralizedTime text as on the wire (see <see cref="TriggeredAtFormat"/>).</summary>
    public string TriggeredAt { get; init; } = "";

    /// <summary>ERROR only: free-form data (btp-packet treats it as UTF-8 text).</summary>
    public ReadOnlyMemory<byte> ErrorData { get; init; }

    /// <summary>First entry named <paramref name="protocolName"/> (RFC 23: names are unique per packet).</summary>
    public BtpProtocolData? FindProtocolData(string protocolName)
    {
        for (int i = 0; i < ProtocolData.Count; i++) // indexed: no boxed enumerator per frame
        {
            if (ProtocolData[i].ProtocolName == protocolName) return ProtocolData[i];
        }
        return null;
    }

    public bool TryGetProtocolData(string protocolName, out BtpProtocolData entry)
    {
        var found = FindProtocolData(protocolName);
        entry = found.GetValueOrDefault();
        return found.HasValue;
    }

    public static BtpPacket Message(uint requestId, IReadOnlyList<BtpProtocolData> protocolData) =>
        new() { Type = BtpPacketType.Message, RequestId = requestId, ProtocolData = protocolData };

    public static BtpPacket Response(uint requestId, IReadOnlyList<BtpProtocolData>? protocolData = null) =>
        new() { Type = BtpPacketType.Response, RequestId = requestId, ProtocolData = protocolData ?? [] };

    /// <summary>MESSAGE carrying one ILP packet as "ilp" octet-stream protocol data.</summary>
    public static BtpPacket IlpMessage(uint requestId, ReadOnlyMemory<byte> ilpPacket) =>
        Message(requestId, [IlpEntry(ilpPacket)]);

    /// <summary>RESPONSE carrying one ILP packet as "ilp" octet-stream protocol data.</summary>
    public static BtpPacket IlpResponse(uint requestId, ReadOnlyMemory<byte> ilpPacket) =>
        Response(requestId, [IlpEntry(ilpPacket)]);

    public static BtpPacket Transfer(uint requestId, ulong amount, IReadOnlyList<BtpProtocolData>? protocolData = null) =>
        new() { Type = BtpPacketType.Transfer, RequestId = requestId, Amount = amount, ProtocolData = protocolData ?? [] };

    /// <summary>ERROR with UTF-8 text data, triggered at <paramref name="triggeredAt"/>.</summary>
    public static BtpPacket Error(uint requestId, string code, string name, DateTimeOffset triggeredAt, string data) => new()
    {
        Type = BtpPacketType.Error,
        RequestId = requestId,
        Code = code,
        Name = name,
        TriggeredAt = FormatTriggeredAt(triggeredAt),
        ErrorData = Encoding.UTF8.GetBytes(data),
    };

    public static string FormatTriggeredAt(DateTimeOffset time) =>
        time.UtcDateTime.ToString(TriggeredAtFormat, CultureInfo.InvariantCulture);

    private static BtpProtocolData IlpEntry(ReadOnlyMemory<byte> ilpPacket) =>
        new(BtpProtocolNames.Ilp, BtpContentType.ApplicationOctetStream, ilpPacket);
}
