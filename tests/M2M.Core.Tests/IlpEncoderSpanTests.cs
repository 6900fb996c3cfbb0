using System.Buffers;
using M2M.Core.Ilp;

namespace M2M.Core.Tests;

/// <summary>The allocation-light encoder entry points (issue 7, session 3) give the writer encoder's bytes.</summary>
[Trait("Tier", "unit")]
public class IlpEncoderSpanTests
{
    private static IEnumerable<IlpPacket> Packets()
    {
        yield return new IlpPrepare
        {
            Amount = 123_456_789,
            ExpiresAt = new DateTimeOffset(2026, 11, 24, 18, 0, 0, 123, TimeSpan.Zero),
            ExecutionCondition = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray(),
            Destination = "g.bob.receiver",
            Data = new byte[300],
        };
        yield return new IlpFulfill { Fulfillment = new byte[32], Data = new byte[] { 1, 2, 3 } };
        yield return IlpRejects.Create(IlpErrorCode.F02_Unreachable, "g.bench", "no route to g.nowhere — ünïcode");
        // Bigger than the per-thread scratch buffer's first size: it must grow and still be exact.
        yield return new IlpFulfill { Fulfillment = new byte[32], Data = new byte[100_000] };
    }

    [Fact]
    public void ToArray_and_span_Encode_match_the_buffer_writer_encoder()
    {
        foreach (var packet in Packets())
        {
            var writer = new ArrayBufferWriter<byte>();
            IlpEncoder.Encode(packet, writer);
            byte[] expected = writer.WrittenSpan.ToArray();

            Assert.Equal(expected, IlpEncoder.ToArray(packet));
            byte[] destination = new byte[IlpEncoder.EncodedLength(packet) + 7];
            Assert.Equal(expected.Length, IlpEncoder.Encode(packet, destination));
            Assert.Equal(expected, destination.AsSpan(0, expected.Length).ToArray());
        }
    }

    [Fact]
    public void A_failed_encode_does_not_leak_bytes_into_the_next_one()
    {
        var bad = new IlpFulfill { Fulfillment = new byte[5] }; // not 32 bytes
        Assert.Throws<ArgumentException>(() => IlpEncoder.ToArray(bad));
        var good = new IlpFulfill { Fulfillment = new byte[32] };
        var writer = new ArrayBufferWriter<byte>();
        IlpEncoder.Encode(good, writer);
        Assert.Equal(writer.WrittenSpan.ToArray(), IlpEncoder.ToArray(good));
        Assert.Throws<ArgumentException>(() => IlpEncoder.Encode(good, new byte[10]));
    }
}
