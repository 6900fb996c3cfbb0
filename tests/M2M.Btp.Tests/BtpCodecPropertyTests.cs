using System.Buffers;

namespace M2M.Btp.Tests;

/// <summary>Seeded random round-trips and fuzzing: the decoder must never throw.</summary>
[Trait("Tier", "unit")]
public class BtpCodecPropertyTests
{
    private const int RoundTripCases = 10_000;
    private const int FuzzCases = 100_000;
    private const int Seed = 20_23;
    private static readonly BtpPacketType[] Types =
        [BtpPacketType.Response, BtpPacketType.Error, BtpPacketType.Message, BtpPacketType.Transfer];

    [Fact]
    public void Random_packets_round_trip()
    {
        var rng = new Random(Seed);
        for (int i = 0; i < RoundTripCases; i++)
        {
            var packet = RandomPacket(rng);
            byte[] bytes = BtpCodec.Encode(packet);
            Assert.Equal(OperationStatus.Done, BtpCodec.TryDecode(bytes, out var decoded, out _));
            AssertSamePacket(packet, decoded!);
            Assert.Equal(bytes, BtpCodec.Encode(decoded!));
        }
    }

    [Fact]
    public void Random_bytes_never_throw()
    {
        var rng = new Random(Seed + 1);
        for (int i = 0; i < FuzzCases; i++)
        {
            byte[] bytes = new byte[rng.Next(0, 64)];
            rng.NextBytes(bytes);
            if (i % 2 == 0 && bytes.Length > 0) bytes[0] = (byte)Types[rng.Next(Types.Length)]; // get past the type check
            AssertDecodesSafely(bytes);
        }
    }

    [Fact]
    public void Every_truncation_needs_more_data()
    {
        var rng = new Random(Seed + 2);
        for (int i = 0; i < FuzzCases / 100; i++)
        {
            byte[] bytes = BtpCodec.Encode(RandomPacket(rng));
            for (int cut = 0; cut < bytes.Length; cut++)
            {
                var status = BtpCodec.TryDecode(bytes.AsMemory(0, cut), out var packet, out var error);
                Assert.Equal(OperationStatus.NeedMoreData, status);
                Assert.Null(packet);
                Assert.NotNull(error);
            }
        }
    }

    [Fact]
    public void Random_mutations_never_throw()
    {
        var rng = new Random(Seed + 3);
        for (int i = 0; i < FuzzCases; i++)
        {
            byte[] bytes = BtpCodec.Encode(RandomPacket(rng, small: true));
            Mutate(rng, bytes);
            AssertDecodesSafely(bytes);
        }
    }

    [Theory]
    [InlineData("0600000001847fffffff")]             // contents claims int.MaxValue bytes
    [InlineData("060000000184ffffffff")]             // ... and more than int.MaxValue
    [InlineData("060000000185ffffffffff")]           // length-of-length too large
    [InlineData("060000000180")]                     // length-of-length zero
    [InlineData("06000000018105" + "0100")]          // non-canonical long form for 5
    [InlineData("0600000001030100" + "00")]          // trailing byte inside contents
    [InlineData("060000000102010000")]               // trailing byte after envelope
    [InlineData("06000000010a087fffffffffffffff")]   // absurd protocolData count
    [InlineData("060000000103020001")]               // non-minimal protocolData count
    [InlineData("06000000010400000000")]             // count length byte zero
    [InlineData("03000000010201" + "00")]            // BTP alpha PREPARE type
    [InlineData("0000000001020100")]                 // type 0
    [InlineData("0700000001020100")]                 // TRANSFER shorter than its amount
    [InlineData("020000000103463030")]               // ERROR without name
    public void Malformed_frames_are_rejected(string hex)
    {
        var status = BtpCodec.TryDecode(Convert.FromHexString(hex), out var packet, out var error);
        Assert.NotEqual(OperationStatus.Done, status);
        Assert.Null(packet);
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Encode_rejects_unencodable_packets()
    {
        Assert.Throws<ArgumentException>(() => BtpCodec.Encode(new BtpPacket { Type = BtpPacketType.Prepare }));
        Assert.Throws<ArgumentException>(() => BtpCodec.Encode(new BtpPacket { Type = BtpPacketType.Error, Code = "F0", Name = "x", TriggeredAt = "t" }));
        Assert.Throws<ArgumentException>(() => BtpCodec.Encode(BtpPacket.Message(1, [new("\u2603", BtpContentType.ApplicationOctetStream, default)])));
    }

    [Fact]
    public void Helpers_build_and_find_ilp_data()
    {
        var message = BtpPacket.IlpMessage(5, new byte[] { 0x0c, 0x01 });
        Assert.Equal(BtpPacketType.Message, message.Type);
        Assert.True(message.TryGetProtocolData(BtpProtocolNames.Ilp, out var ilp));
        Assert.Equal(BtpContentType.ApplicationOctetStream, ilp.ContentType);
        Assert.Equal(new byte[] { 0x0c, 0x01 }, ilp.Data.ToArray());
        Assert.Null(message.FindProtocolData("other"));
        Assert.Equal("20240229235959.999Z", BtpPacket.FormatTriggeredAt(new DateTimeOffset(2024, 3, 1, 0, 59, 59, 999, TimeSpan.FromHours(1))));
    }

    /// <summary>Never throws; anything accepted must re-encode to exactly the same bytes.</summary>
    private static void AssertDecodesSafely(byte[] bytes)
    {
        var status = BtpCodec.TryDecode(bytes, out var packet, out var error);
        if (status == OperationStatus.Done)
        {
            Assert.Equal(bytes, BtpCodec.Encode(packet!));
            return;
        }
        Assert.True(status is OperationStatus.InvalidData or OperationStatus.NeedMoreData);
        Assert.NotNull(error);
    }

    private static void Mutate(Random rng, byte[] bytes)
    {
        int edits = rng.Next(1, 4);
        for (int e = 0; e < edits; e++)
        {
            int at = rng.Next(bytes.Length);
            bytes[at] = rng.Next(3) switch
            {
                0 => (byte)rng.Next(256),
                1 => (byte)(bytes[at] ^ (1 << rng.Next(8))),
                _ => (byte)(bytes[at] + rng.Next(-2, 3)),
            };
        }
    }

    internal static BtpPacket RandomPacket(Random rng, bool small = false)
    {
        var type = Types[rng.Next(Types.Length)];
        var protocolData = RandomProtocolData(rng, small);
        uint requestId = (uint)rng.NextInt64(0, 1L << 32);
        return type switch
        {
            BtpPacketType.Transfer => BtpPacket.Transfer(requestId, RandomUInt64(rng), protocolData),
            BtpPacketType.Error => new BtpPacket
            {
                Type = type,
                RequestId = requestId,
                Code = RandomText(rng, 3, 3),
                Name = RandomText(rng, 0, small ? 8 : 40),
                TriggeredAt = RandomText(rng, 0, 24),
                ErrorData = RandomBytes(rng, small ? 8 : 300),
                ProtocolData = protocolData,
            },
            _ => new BtpPacket { Type = type, RequestId = requestId, ProtocolData = protocolData },
        };
    }

    private static BtpProtocolData[] RandomProtocolData(Random rng, bool small)
    {
        // Mostly a few entries; sometimes enough to need a two-byte count.
        int count = !small && rng.Next(200) == 0 ? rng.Next(250, 300) : rng.Next(0, small ? 3 : 6);
        var entries = new BtpProtocolData[count];
        for (int i = 0; i < count; i++)
        {
            int maxData = small ? 8 : (rng.Next(20) == 0 ? 2_000 : 200);
            entries[i] = new(RandomText(rng, 0, small ? 6 : 20), (BtpContentType)rng.Next(256), RandomBytes(rng, maxData));
        }
        return entries;
    }

    private static ulong RandomUInt64(Random rng)
    {
        Span<byte> bytes = stackalloc byte[sizeof(ulong)];
        rng.NextBytes(bytes);
        ulong value = BitConverter.ToUInt64(bytes);
        return (value % 4) switch { 0 => 0, 1 => ulong.MaxValue, _ => value >> rng.Next(64) };
    }

    private static string RandomText(Random rng, int min, int max)
    {
        var chars = new char[rng.Next(min, max + 1)];
        for (int i = 0; i < chars.Length; i++) chars[i] = (char)(rng.Next(4) == 0 ? rng.Next(256) : rng.Next(0x20, 0x7F));
        return new string(chars);
    }

    private static byte[] RandomBytes(Random rng, int max)
    {
        var bytes = new byte[rng.Next(0, max + 1)];
        rng.NextBytes(bytes);
        return bytes;
    }

    private static void AssertSamePacket(BtpPacket expected, BtpPacket actual)
    {
        Assert.Equal(expected.Type, actual.Type);
        Assert.Equal(expected.RequestId, actual.RequestId);
        Assert.Equal(expected.ProtocolData.Count, actual.ProtocolData.Count);
        for (int i = 0; i < expected.ProtocolData.Count; i++)
        {
            Assert.Equal(expected.ProtocolData[i].ProtocolName, actual.ProtocolData[i].ProtocolName);
            Assert.Equal(expected.ProtocolData[i].ContentType, actual.ProtocolData[i].ContentType);
            Assert.True(expected.ProtocolData[i].Data.Span.SequenceEqual(actual.ProtocolData[i].Data.Span));
        }
        if (expected.Type == BtpPacketType.Transfer) Assert.Equal(expected.Amount, actual.Amount);
        if (expected.Type != BtpPacketType.Error) return;
        Assert.Equal(expected.Code, actual.Code);
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.TriggeredAt, actual.TriggeredAt);
        Assert.True(expected.ErrorData.Span.SequenceEqual(actual.ErrorData.Span));
    }
}
