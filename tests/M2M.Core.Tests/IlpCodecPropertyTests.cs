using System.Buffers;
using M2M.Core.Ilp;

namespace M2M.Core.Tests;

/// <summary>Properties over seeded random inputs: decode∘encode = id, and no input ever throws.</summary>
// Not in parallel with the other test class that decodes: both use the shared IlpAddressCache.
[Collection("IlpAddressCache")]
[Trait("Tier", "unit")]
public class IlpCodecPropertyTests
{
    private const int Cases = 20_000;

    [Fact]
    public void Random_valid_packets_round_trip()
    {
        var random = new Random(27);
        for (int i = 0; i < Cases; i++)
        {
            IlpPacket packet = RandomPackets.Any(random);
            byte[] bytes = IlpEncoder.ToArray(packet);

            Assert.Equal(OperationStatus.Done, IlpCodec.TryDecode(bytes, out var decoded, out string? error));
            Assert.True(error is null, error);
            Assert.Equal(bytes, IlpEncoder.ToArray(decoded!));
        }
    }

    [Fact]
    public void Random_bytes_never_throw()
    {
        var random = new Random(30);
        for (int i = 0; i < 100_000; i++)
        {
            var bytes = new byte[random.Next(0, 200)];
            random.NextBytes(bytes);
            if (bytes.Length > 0 && random.Next(2) == 0) bytes[0] = (byte)random.Next(12, 15);
            var status = IlpCodec.TryDecode(bytes, out var packet, out string? error);
            Assert.True(status == OperationStatus.Done ? packet is not null : packet is null && error is not null);
        }
    }

    [Fact]
    public void Truncations_and_mutations_of_valid_packets_never_throw()
    {
        var random = new Random(15);
        for (int i = 0; i < 5_000; i++)
        {
            byte[] bytes = IlpEncoder.ToArray(RandomPackets.Any(random));
            for (int cut = 0; cut < bytes.Length; cut += 1 + bytes.Length / 16)
            {
                Assert.NotEqual(OperationStatus.Done, IlpCodec.TryDecode(bytes.AsMemory(0, cut), out _, out _));
            }
            var mutated = (byte[])bytes.Clone();
            for (int m = 0; m < 4; m++) mutated[random.Next(mutated.Length)] = (byte)random.Next(256);
            _ = IlpCodec.TryDecode(mutated, out _, out _);
        }
    }

    [Fact]
    public void Multi_segment_sequences_decode_like_one_span()
    {
        var random = new Random(9);
        for (int i = 0; i < 500; i++)
        {
            byte[] bytes = IlpEncoder.ToArray(RandomPackets.Any(random));
            int split = random.Next(1, bytes.Length);
            var sequence = Segments.Create(bytes.AsMemory(0, split), bytes.AsMemory(split));

            Assert.Equal(OperationStatus.Done, IlpCodec.TryDecode(sequence, out var decoded, out _));
            Assert.Equal(bytes, IlpEncoder.ToArray(decoded!));
        }
    }

    [Fact]
    public void Decoded_data_is_a_slice_of_the_input_not_a_copy()
    {
        var prepare = RandomPackets.Prepare(new Random(1));
        var bytes = new ReadOnlyMemory<byte>(IlpEncoder.ToArray(prepare));
        IlpCodec.TryDecode(bytes, out var packet, out _);
        var decoded = (IlpPrepare)packet!;

        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(bytes, out var input));
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(decoded.ExecutionCondition, out var condition));
        Assert.Same(input.Array, condition.Array);
    }

    [Theory]
    [InlineData(0, "00")]
    [InlineData(127, "7f")]
    [InlineData(128, "8180")]
    [InlineData(255, "81ff")]
    [InlineData(256, "820100")]
    [InlineData(65535, "82ffff")]
    [InlineData(65536, "83010000")]
    public void Length_prefixes_are_canonical(int length, string hex)
    {
        var buffer = new byte[5];
        int written = Oer.Oer.WriteLength(buffer, length);
        Assert.Equal(hex, Convert.ToHexStringLower(buffer.AsSpan(0, written)));
        Assert.Equal(OperationStatus.Done, Oer.Oer.TryReadLength(buffer.AsSpan(0, written), out int read, out int consumed));
        Assert.Equal((length, written), (read, consumed));
    }

    [Fact]
    public void Data_over_32767_bytes_is_refused()
    {
        var prepare = RandomPackets.Prepare(new Random(2), dataLength: IlpCodec.MaxDataLength + 1);
        var bytes = IlpEncoder.ToArray(prepare);
        Assert.Equal(OperationStatus.InvalidData, IlpCodec.TryDecode(bytes, out _, out string? error));
        Assert.Contains("data", error);
    }
}

internal static class Segments
{
    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, Segment? previous)
        {
            Memory = memory;
            if (previous is null) return;
            RunningIndex = previous.RunningIndex + previous.Memory.Length;
            previous.Next = this;
        }
    }

    public static ReadOnlySequence<byte> Create(ReadOnlyMemory<byte> first, ReadOnlyMemory<byte> second)
    {
        var a = new Segment(first, null);
        var b = new Segment(second, a);
        return new ReadOnlySequence<byte>(a, 0, b, second.Length);
    }
}

internal static class RandomPackets
{
    private const string Chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_~-";
    private static readonly string[] Schemes = ["g", "private", "example", "peer", "self", "test", "test1", "test2", "test3", "local"];

    public static IlpPacket Any(Random r) => r.Next(3) switch
    {
        0 => Prepare(r),
        1 => new IlpFulfill { Fulfillment = Bytes(r, 32), Data = Bytes(r, DataLength(r)) },
        _ => new IlpReject
        {
            Code = IlpErrorCode.Names.Keys.ElementAt(r.Next(IlpErrorCode.Names.Count)),
            TriggeredBy = r.Next(5) == 0 ? "" : Address(r),
            Message = r.Next(3) == 0 ? "déjà vu ✓ " + r.Next() : "error " + r.Next(),
            Data = Bytes(r, DataLength(r)),
        },
    };

    public static IlpPrepare Prepare(Random r, int? dataLength = null) => new()
    {
        Amount = r.Next(4) switch { 0 => 0, 1 => ulong.MaxValue, _ => (ulong)r.NextInt64() },
        ExpiresAt = DateTimeOffset.UnixEpoch.AddMilliseconds(r.NextInt64(0, 253402300799999)),
        ExecutionCondition = Bytes(r, 32),
        Destination = Address(r),
        Data = Bytes(r, dataLength ?? DataLength(r)),
    };

    public static string Address(Random r)
    {
        var parts = new List<string> { Schemes[r.Next(Schemes.Length)] };
        int segments = r.Next(1, 6);
        for (int i = 0; i < segments; i++)
        {
            parts.Add(new string(Enumerable.Range(0, r.Next(1, 12)).Select(_ => Chars[r.Next(Chars.Length)]).ToArray()));
        }
        return string.Join('.', parts);
    }

    private static int DataLength(Random r) => r.Next(10) switch
    {
        0 => 0,
        1 => r.Next(120, 300),
        2 => r.Next(0, IlpCodec.MaxDataLength + 1),
        _ => r.Next(0, 64),
    };

    private static byte[] Bytes(Random r, int length)
    {
        var b = new byte[length];
        r.NextBytes(b);
        return b;
    }
}

[Trait("Tier", "unit")]
public class OerEdgeTests
{
    [Fact]
    public void A_length_near_int_max_is_need_more_data_not_an_overflow()
    {
        byte[] input = [0x84, 0x7f, 0xff, 0xff, 0xff, 0x00];
        Assert.Equal(OperationStatus.NeedMoreData, Oer.Oer.TryReadVarOctetString(input, int.MaxValue, out _, out _));
    }

    [Theory]
    [InlineData(new byte[] { 0x80 })]
    [InlineData(new byte[] { 0x81, 0x05 })]
    [InlineData(new byte[] { 0x82, 0x00, 0xff })]
    [InlineData(new byte[] { 0x85, 1, 1, 1, 1, 1 })]
    public void Non_canonical_or_oversized_length_prefixes_are_invalid(byte[] input) =>
        Assert.Equal(OperationStatus.InvalidData, Oer.Oer.TryReadLength(input, out _, out _));
}
