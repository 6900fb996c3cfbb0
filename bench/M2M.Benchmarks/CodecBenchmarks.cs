using System.Buffers;
using BenchmarkDotNet.Attributes;
using M2M.Core.Ilp;
using M2M.Core.Routing;

namespace M2M.Benchmarks;

[MemoryDiagnoser]
public class CodecBenchmarks
{
    private byte[] _prepareBytes = [];
    private IlpPrepare _prepare = null!;
    private readonly ArrayBufferWriter<byte> _writer = new(4096);

    [GlobalSetup]
    public void Setup()
    {
        _prepare = new IlpPrepare
        {
            Amount = 123_456,
            ExpiresAt = DateTimeOffset.UtcNow.AddSeconds(30),
            ExecutionCondition = new byte[32],
            Destination = "g.connector.agent-42.wallet",
            Data = new byte[256],
        };
        _prepareBytes = IlpEncoder.ToArray(_prepare);
    }

    [Benchmark]
    public IlpPacket? DecodePrepare()
    {
        IlpCodec.TryDecode(_prepareBytes, out var packet, out _);
        return packet;
    }

    /// <summary>Issue 7's target: 0 B allocated (every field a slice of the input).</summary>
    [Benchmark]
    public ulong ReadPrepareView()
    {
        IlpCodec.TryReadPrepare(_prepareBytes, out var view, out _);
        return view.Amount;
    }

    [Benchmark]
    public int EncodePrepare()
    {
        _writer.ResetWrittenCount();
        IlpEncoder.Encode(_prepare, _writer);
        return _writer.WrittenCount;
    }
}

[MemoryDiagnoser]
public class RoutingBenchmarks
{
    private RoutingTable _table = null!;

    [GlobalSetup]
    public void Setup() =>
        _table = new RoutingTable(Enumerable.Range(0, 10_000).Select(i => new Route($"g.region{i % 100}.peer{i}", $"p{i}")));

    [Benchmark]
    public Route? LookupIn10kRoutes() => _table.Lookup("g.region42.peer4242.agent.wallet");
}
