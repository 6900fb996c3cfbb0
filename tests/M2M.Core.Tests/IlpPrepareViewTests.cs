using System.Buffers;
using System.Text;
using M2M.Core.Ilp;

namespace M2M.Core.Tests;

/// <summary>Issue 7's codec target: reading a Prepare allocates nothing; its fields are slices of the input.</summary>
// Not in parallel with the other test class that decodes: both use the shared IlpAddressCache.
[Collection("IlpAddressCache")]
[Trait("Tier", "unit")]
public class IlpPrepareViewTests
{
    private static byte[] Prepare(int dataBytes, string destination = "g.connector.agent-42.wallet") => IlpEncoder.ToArray(new IlpPrepare
    {
        Amount = 123_456,
        ExpiresAt = new DateTimeOffset(2030, 1, 2, 3, 4, 5, 678, TimeSpan.Zero),
        ExecutionCondition = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray(),
        Destination = destination,
        Data = Enumerable.Range(0, dataBytes).Select(i => (byte)(i * 7)).ToArray(),
    });

    [Theory]
    [InlineData(0)]
    [InlineData(256)]
    [InlineData(32_767)]
    public void Reading_a_prepare_allocates_zero_bytes(int dataBytes)
    {
        ReadOnlyMemory<byte> bytes = Prepare(dataBytes);
        IlpCodec.TryReadPrepare(bytes, out _, out _); // JIT and statics first

        const int reads = 1_000;
        ulong sum = 0;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < reads; i++)
        {
            IlpCodec.TryReadPrepare(bytes, out var view, out _);
            sum += view.Amount + (ulong)view.Data.Length;
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(reads * (123_456UL + (ulong)dataBytes), sum);
    }

    [Fact]
    public void View_fields_are_slices_of_the_input_buffer()
    {
        byte[] bytes = Prepare(256);
        Assert.Equal(OperationStatus.Done, IlpCodec.TryReadPrepare(bytes, out var view, out string? error));
        Assert.Null(error);

        Assert.Equal(123_456UL, view.Amount);
        Assert.Equal(new DateTimeOffset(2030, 1, 2, 3, 4, 5, 678, TimeSpan.Zero), view.ExpiresAt);
        Assert.Equal("g.connector.agent-42.wallet", Encoding.ASCII.GetString(view.Destination.Span));
        Assert.Equal(256, view.Data.Length);
        // Same memory, not a copy: writing the input shows through the view.
        bytes[^1] ^= 0xFF;
        Assert.Equal(bytes[^1], view.Data.Span[^1]);
        Assert.True(view.ExecutionCondition.Span.Overlaps(bytes));
    }

    [Fact]
    public void Decoding_a_prepare_allocates_only_the_packet_object_when_the_destination_repeats()
    {
        ReadOnlyMemory<byte> bytes = Prepare(256);
        IlpCodec.TryDecode(bytes, out var first, out _);
        IlpCodec.TryDecode(bytes, out var second, out _);
        Assert.Same(((IlpPrepare)first!).Destination, ((IlpPrepare)second!).Destination);

        const int decodes = 1_000;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < decodes; i++) IlpCodec.TryDecode(bytes, out _, out _);
        long perDecode = (GC.GetAllocatedBytesForCurrentThread() - before) / decodes;

        // One IlpPrepare (header + amount, expiry, two ReadOnlyMemory, a string reference): about 100 bytes.
        Assert.InRange(perDecode, 1, 128);
    }

    [Fact]
    public void The_address_cache_is_bounded_and_skips_long_addresses()
    {
        var cache = new IlpAddressCache();
        int maxSeen = 0;
        for (int i = 0; i < IlpAddressCache.MaxEntries + 100; i++)
        {
            cache.GetString(Encoding.ASCII.GetBytes($"g.peer{i}"));
            maxSeen = Math.Max(maxSeen, cache.Count);
        }
        Assert.Equal(IlpAddressCache.MaxEntries, maxSeen);
        // Full, it started over: the 100 addresses since are cached, so one in use now is a hit again.
        Assert.Equal(100, cache.Count);
        string recent = cache.GetString(Encoding.ASCII.GetBytes($"g.peer{IlpAddressCache.MaxEntries + 50}"));
        Assert.Same(recent, cache.GetString(Encoding.ASCII.GetBytes($"g.peer{IlpAddressCache.MaxEntries + 50}")));

        string longAddress = "g." + new string('a', IlpAddressCache.MaxCachedLength);
        Assert.Equal(longAddress, cache.GetString(Encoding.ASCII.GetBytes(longAddress)));
        Assert.Equal(100, cache.Count);
        Assert.Equal("g.peer7", cache.GetString("g.peer7"u8));
    }

    [Fact]
    public void Other_packet_types_and_bad_destinations_are_refused_with_a_reason()
    {
        byte[] fulfill = IlpEncoder.ToArray(new IlpFulfill { Fulfillment = new byte[32] });
        Assert.Equal(OperationStatus.InvalidData, IlpCodec.TryReadPrepare(fulfill, out _, out string? error));
        Assert.Contains("Fulfill", error);

        byte[] bad = Prepare(0, "g.ok");
        int at = Array.LastIndexOf(bad, (byte)'k');
        bad[at] = (byte)'!';
        Assert.Equal(OperationStatus.InvalidData, IlpCodec.TryReadPrepare(bad, out _, out error));
        Assert.Contains("destination 'g.o!' is invalid", error);
        Assert.Equal(OperationStatus.NeedMoreData, IlpCodec.TryReadPrepare(ReadOnlyMemory<byte>.Empty, out _, out _));
    }

    [Fact]
    public void Every_ilp_packet_prepare_vector_reads_to_the_same_fields_as_the_decoder()
    {
        var vectors = IlpCodecFixtureTests.LoadVectors("ilp-packet-vectors.json")
            .Where(v => v.GetProperty("type").GetString() == "prepare" && v.GetProperty("data").GetString()!.Length / 2 <= IlpCodec.MaxDataLength)
            .ToList();
        Assert.NotEmpty(vectors);
        foreach (var v in vectors)
        {
            byte[] bytes = Convert.FromHexString(v.GetProperty("hex").GetString()!);
            Assert.Equal(OperationStatus.Done, IlpCodec.TryReadPrepare(bytes, out var view, out _));
            Assert.Equal(v.GetProperty("destination").GetString(), Encoding.ASCII.GetString(view.Destination.Span));
            Assert.Equal(v.GetProperty("data").GetString(), Convert.ToHexStringLower(view.Data.Span));
            Assert.Equal(v.GetProperty("executionCondition").GetString(), Convert.ToHexStringLower(view.ExecutionCondition.Span));
            Assert.Equal(bytes, IlpEncoder.ToArray(view.ToPrepare()));
        }
    }
}
