using System.Buffers;
using System.Text;

namespace M2M.Core.Ilp;

/// <summary>
/// The ILP echo (ping) protocol as ilp-connector 23 implements it (its <c>echo</c> middleware): a Prepare to a
/// connector's own address whose data is <c>"ECHOECHOECHOECHO"</c>, type 0x00 (request) and the sender's address
/// (VarOctetString) is sent back to that address as a new Prepare with the same amount and condition and data
/// <c>"ECHOECHOECHOECHO"</c> + 0x01 (response). The sender fulfills the response; that Fulfill travels back.
/// </summary>
public static class IlpEcho
{
    public const byte RequestType = 0;
    public const byte ResponseType = 1;

    /// <summary>"ECHOECHOECHOECHO" in ASCII.</summary>
    public static ReadOnlySpan<byte> Prefix => "ECHOECHOECHOECHO"u8;

    /// <summary>Prefix and type: ilp-connector's MINIMUM_ECHO_PACKET_DATA_LENGTH.</summary>
    public const int MinimumLength = 16 + 1;

    public static byte[] RequestData(string sourceAddress)
    {
        var writer = new ArrayBufferWriter<byte>();
        writer.Write(Prefix);
        writer.Write([RequestType]);
        Oer.Oer.WriteVarOctetString(writer, Encoding.ASCII.GetBytes(sourceAddress));
        return writer.WrittenSpan.ToArray();
    }

    public static byte[] ResponseData()
    {
        var data = new byte[MinimumLength];
        Prefix.CopyTo(data);
        data[16] = ResponseType;
        return data;
    }

    /// <summary>
    /// Reads an echo request; on failure <paramref name="error"/> is the reason, worded as ilp-connector's
    /// (all of them are F01 Invalid Packet there).
    /// </summary>
    public static bool TryParseRequest(ReadOnlySpan<byte> data, out string sourceAddress, out string error)
    {
        sourceAddress = "";
        if (data.Length < MinimumLength)
        {
            error = $"packet data too short for echo request. length={data.Length}";
            return false;
        }
        if (!data[..16].SequenceEqual(Prefix))
        {
            error = "packet data does not start with ECHO prefix.";
            return false;
        }
        if (data[16] != RequestType)
        {
            error = "unexpected ping response.";
            return false;
        }
        if (Oer.Oer.TryReadVarOctetString(data[MinimumLength..], IlpAddress.MaxLength, out var range, out _) != OperationStatus.Done)
        {
            error = "echo request source address is not a well-formed VarOctetString.";
            return false;
        }
        var raw = data[MinimumLength..][range];
        string? why = Ascii.IsValid(raw) ? IlpAddress.Validate(Encoding.ASCII.GetString(raw)) : "not ASCII";
        if (why is not null)
        {
            error = $"echo request source address is not a valid ILP address ({why}).";
            return false;
        }
        sourceAddress = Encoding.ASCII.GetString(raw);
        error = "";
        return true;
    }

    /// <summary>True when the data is an echo response (what a pinging sender fulfills).</summary>
    public static bool IsResponse(ReadOnlySpan<byte> data) =>
        data.Length >= MinimumLength && data[..16].SequenceEqual(Prefix) && data[16] == ResponseType;
}
