using System.Buffers;
using System.Text.Json;
using M2M.Core.Ilp;

namespace M2M.Core.Tests;

/// <summary>Byte vectors produced by the npm ilp-packet package (tests/interop/gen-ilp-vectors.js).</summary>
[Trait("Tier", "unit")]
public class IlpCodecFixtureTests
{
    public static TheoryData<string> ValidNames() => Names("ilp-packet-vectors.json");
    public static TheoryData<string> InvalidNames() => Names("ilp-packet-invalid.json");

    [Theory]
    [MemberData(nameof(ValidNames))]
    public void Decodes_every_ilp_packet_vector_to_its_fields_and_reencodes_identically(string name)
    {
        var v = Vector("ilp-packet-vectors.json", name);
        byte[] bytes = Convert.FromHexString(v.GetProperty("hex").GetString()!);
        if (v.GetProperty("data").GetString()!.Length / 2 > IlpCodec.MaxDataLength)
        {
            // ilp-packet writes any length; RFC 27 caps data at 32767 bytes and so do we (F01).
            Assert.Equal(OperationStatus.InvalidData, IlpCodec.TryDecode(bytes, out _, out string? tooLong));
            Assert.Contains("32767", tooLong);
            return;
        }

        Assert.Equal(OperationStatus.Done, IlpCodec.TryDecode(bytes, out var packet, out string? error));
        Assert.Null(error);
        switch (v.GetProperty("type").GetString())
        {
            case "prepare":
                var p = Assert.IsType<IlpPrepare>(packet);
                Assert.Equal(ulong.Parse(v.GetProperty("amount").GetString()!), p.Amount);
                Assert.Equal(DateTimeOffset.Parse(v.GetProperty("expiresAt").GetString()!), p.ExpiresAt);
                Assert.Equal(v.GetProperty("executionCondition").GetString(), Hex(p.ExecutionCondition));
                Assert.Equal(v.GetProperty("destination").GetString(), p.Destination);
                Assert.Equal(v.GetProperty("data").GetString(), Hex(p.Data));
                break;
            case "fulfill":
                var f = Assert.IsType<IlpFulfill>(packet);
                Assert.Equal(v.GetProperty("fulfillment").GetString(), Hex(f.Fulfillment));
                Assert.Equal(v.GetProperty("data").GetString(), Hex(f.Data));
                break;
            default:
                var r = Assert.IsType<IlpReject>(packet);
                Assert.Equal(v.GetProperty("code").GetString(), r.Code);
                Assert.Equal(v.GetProperty("triggeredBy").GetString(), r.TriggeredBy);
                Assert.Equal(v.GetProperty("message").GetString(), r.Message);
                Assert.Equal(v.GetProperty("data").GetString(), Hex(r.Data));
                break;
        }
        Assert.Equal(bytes, IlpEncoder.ToArray(packet!));
        Assert.Equal(bytes.Length, IlpEncoder.EncodedLength(packet!));
    }

    [Theory]
    [MemberData(nameof(InvalidNames))]
    public void Refuses_what_ilp_packet_refuses_without_throwing(string name)
    {
        var v = Vector("ilp-packet-invalid.json", name);
        byte[] bytes = Convert.FromHexString(v.GetProperty("hex").GetString()!);

        var status = IlpCodec.TryDecode(bytes, out var packet, out string? error);

        Assert.NotEqual(OperationStatus.Done, status);
        Assert.Null(packet);
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Data_over_the_RFC_limit_that_ilp_packet_writes_anyway_is_refused()
    {
        var vectors = Load("ilp-packet-oversize.json");
        Assert.NotEmpty(vectors);
        foreach (var v in vectors)
        {
            var status = IlpCodec.TryDecode(Convert.FromHexString(v.GetProperty("hex").GetString()!), out var packet, out string? error);
            Assert.Equal(OperationStatus.InvalidData, status);
            Assert.Null(packet);
            Assert.Contains("32767", error);
        }
    }

    [Fact]
    public void F08_vector_carries_received_and_maximum_amounts()
    {
        var vectors = Load("ilp-packet-vectors.json").Where(v => v.TryGetProperty("maximumAmount", out _)).ToList();
        Assert.NotEmpty(vectors);
        foreach (var v in vectors)
        {
            IlpCodec.TryDecode(Convert.FromHexString(v.GetProperty("hex").GetString()!), out var packet, out _);
            var reject = Assert.IsType<IlpReject>(packet);
            Assert.True(IlpRejects.TryReadAmountTooLarge(reject, out ulong received, out ulong maximum));
            Assert.Equal(ulong.Parse(v.GetProperty("receivedAmount").GetString()!), received);
            Assert.Equal(ulong.Parse(v.GetProperty("maximumAmount").GetString()!), maximum);
        }
    }

    private static string Hex(ReadOnlyMemory<byte> m) => Convert.ToHexStringLower(m.Span);

    private static TheoryData<string> Names(string file)
    {
        var data = new TheoryData<string>();
        foreach (var v in Load(file)) data.Add(v.GetProperty("name").GetString()!);
        return data;
    }

    private static JsonElement Vector(string file, string name) => Load(file).Single(v => v.GetProperty("name").GetString() == name);

    internal static List<JsonElement> LoadVectors(string file) => Load(file);

    private static List<JsonElement> Load(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", file)));
        return doc.RootElement.EnumerateArray().Select(e => e.Clone()).ToList();
    }
}
