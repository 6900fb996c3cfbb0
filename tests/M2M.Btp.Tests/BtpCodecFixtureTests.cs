using System.Buffers;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace M2M.Btp.Tests;

/// <summary>Vectors produced by btp-packet@2.2.1 (see Fixtures/gen-btp-vectors.js).</summary>
[Trait("Tier", "unit")]
public class BtpCodecFixtureTests
{
    private static readonly Lazy<Dictionary<string, JsonElement>> Vectors = new(LoadVectors);

    public static TheoryData<string> VectorNames()
    {
        var data = new TheoryData<string>();
        foreach (var name in Vectors.Value.Keys) data.Add(name);
        return data;
    }

    [Theory]
    [MemberData(nameof(VectorNames))]
    public void Vector_decodes_to_listed_fields_and_reencodes_identically(string name)
    {
        var v = Vectors.Value[name];
        byte[] bytes = Convert.FromHexString(v.GetProperty("hex").GetString()!);

        Assert.Equal(OperationStatus.Done, BtpCodec.TryDecode(bytes, out var packet, out var error));
        Assert.Null(error);
        Assert.Equal(v.GetProperty("type").GetInt32(), (int)packet!.Type);
        Assert.Equal(v.GetProperty("requestId").GetUInt32(), packet.RequestId);
        AssertProtocolData(v.GetProperty("protocolData"), packet.ProtocolData);
        if (v.TryGetProperty("amount", out var amount)) Assert.Equal(ulong.Parse(amount.GetString()!), packet.Amount);
        if (v.TryGetProperty("error", out var e)) AssertError(e, packet);

        Assert.Equal(bytes, BtpCodec.Encode(packet));
        Assert.Equal(bytes.Length, BtpCodec.GetEncodedLength(packet));
    }

    [Fact]
    public void Fixture_file_covers_every_btp2_type()
    {
        var types = Vectors.Value.Values.Select(v => v.GetProperty("type").GetInt32()).ToHashSet();
        Assert.Equal([1, 2, 6, 7], types.Order());
    }

    [Fact]
    public void Decoded_data_references_the_input_buffer()
    {
        byte[] frame = BtpCodec.Encode(BtpPacket.IlpMessage(9, new byte[] { 1, 2, 3 }));
        BtpCodec.TryDecode(frame, out var packet, out _);
        var ilp = packet!.FindProtocolData(BtpProtocolNames.Ilp)!.Value;
        Assert.True(MemoryMarshal.TryGetArray(ilp.Data, out var segment));
        Assert.Same(frame, segment.Array);
        Assert.Equal(frame.Length - 3, segment.Offset);
    }

    [Fact]
    public void Encoded_fields_from_vectors_build_identical_frames()
    {
        // Builds the auth vector from our own helpers rather than from decoded input.
        var auth = BtpPacket.Message(0x12345678,
        [
            new(BtpProtocolNames.Auth, BtpContentType.ApplicationOctetStream, ReadOnlyMemory<byte>.Empty),
            new(BtpProtocolNames.AuthUsername, BtpContentType.TextPlainUtf8, "alice"u8.ToArray()),
            new(BtpProtocolNames.AuthToken, BtpContentType.TextPlainUtf8, "s3cret-token"u8.ToArray()),
        ]);
        Assert.Equal(Hex("message-auth"), BtpCodec.Encode(auth));

        var error = BtpPacket.Error(16, BtpErrorCodes.NotAccepted, BtpErrorCodes.NotAcceptedName,
            new DateTimeOffset(2017, 8, 28, 18, 32, 0, TimeSpan.Zero), "invalid auth token");
        Assert.Equal(Hex("error-not-accepted"), BtpCodec.Encode(error));
    }

    [Theory]
    [MemberData(nameof(VectorNames))]
    public void Ilp_frame_reader_agrees_with_the_full_decode(string name)
    {
        // The session reads ILP frames in place (issue 18); every btp-packet vector must read the same both ways.
        byte[] bytes = Hex(name);
        Assert.Equal(OperationStatus.Done, BtpCodec.TryDecode(bytes, out var packet, out _));
        bool ilpFrame = packet!.Type is BtpPacketType.Message or BtpPacketType.Response
            && packet.ProtocolData.Count == 1 && packet.ProtocolData[0].ProtocolName == BtpProtocolNames.Ilp;

        bool read = BtpCodec.TryReadIlpFrame(bytes, out var type, out uint requestId, out var ilp);

        Assert.Equal(ilpFrame, read);
        Assert.Equal(ilpFrame ? packet.Type : default, type);
        Assert.Equal(ilpFrame ? packet.RequestId : 0, requestId);
        Assert.Equal(ilpFrame ? packet.ProtocolData[0].Data.ToArray() : [], ilp.ToArray());
    }

    [Fact]
    public void Ilp_frame_reader_refuses_truncated_padded_and_multi_entry_frames()
    {
        byte[] frame = Hex("message-ilp-prepare");
        Assert.True(BtpCodec.TryReadIlpFrame(frame, out _, out _, out _));
        for (int length = 0; length < frame.Length; length++)
            Assert.False(BtpCodec.TryReadIlpFrame(frame.AsMemory(0, length), out _, out _, out _), $"truncated to {length} bytes");
        Assert.False(BtpCodec.TryReadIlpFrame((byte[])[.. frame, 0], out _, out _, out _));

        var twoEntries = BtpCodec.Encode(BtpPacket.Message(7,
            [new(BtpProtocolNames.Ilp, BtpContentType.ApplicationOctetStream, (byte[])[1]), new("other", BtpContentType.TextPlainUtf8, (byte[])[2])]));
        Assert.Equal(OperationStatus.Done, BtpCodec.TryDecode(twoEntries, out _, out _));
        Assert.False(BtpCodec.TryReadIlpFrame(twoEntries, out _, out _, out _));
    }

    private static byte[] Hex(string name) => Convert.FromHexString(Vectors.Value[name].GetProperty("hex").GetString()!);

    private static void AssertProtocolData(JsonElement expected, IReadOnlyList<BtpProtocolData> actual)
    {
        Assert.Equal(expected.GetArrayLength(), actual.Count);
        int i = 0;
        foreach (var e in expected.EnumerateArray())
        {
            Assert.Equal(e.GetProperty("name").GetString(), actual[i].ProtocolName);
            Assert.Equal(e.GetProperty("contentType").GetInt32(), (int)actual[i].ContentType);
            Assert.Equal(e.GetProperty("hex").GetString(), Convert.ToHexStringLower(actual[i].Data.Span));
            i++;
        }
    }

    private static void AssertError(JsonElement e, BtpPacket packet)
    {
        Assert.Equal(e.GetProperty("code").GetString(), packet.Code);
        Assert.Equal(e.GetProperty("name").GetString(), packet.Name);
        Assert.Equal(e.GetProperty("triggeredAt").GetString(), packet.TriggeredAt);
        Assert.Equal(e.GetProperty("dataHex").GetString(), Convert.ToHexStringLower(packet.ErrorData.Span));
    }

    private static Dictionary<string, JsonElement> LoadVectors()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "btp-packet-vectors.json");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        return doc.RootElement.GetProperty("vectors").EnumerateArray()
            .ToDictionary(v => v.GetProperty("name").GetString()!, v => v.Clone());
    }
}
