using M2M.Core.Ilp;
using M2M.Core.Switch;
using M2M.Server.Configuration;
using M2M.Server.Tracing;
using M2M.Settlement.Coordination;

namespace M2M.Server.Tests;

[Trait("Tier", "integration")]
public class TracingOverheadTests
{
    private sealed class Nothing : IPacketObserver, ISettlementObserver
    {
        public void PacketCompleted(PacketContext context, IlpReply reply, TimeSpan elapsed) { }
        public void Executed(SettlementRecord settlement, bool success, TimeSpan latency) { }
    }

    [Fact]
    public void With_tracing_off_observing_a_packet_allocates_nothing()
    {
        var nothing = new Nothing();
        using var tracing = new ConnectorTracing(new TracingSettings { Enabled = false }, "n", nothing, nothing);
        var context = new PacketContext(TestKit.TestPeer.Payment("g.x"), new PeerDescriptor("a", PeerRelation.Child, "USD", 9, null), DateTimeOffset.UtcNow, default);
        IlpReply reply = new IlpFulfill { Fulfillment = new byte[32] };
        for (int i = 0; i < 100; i++) tracing.PacketCompleted(context, reply, TimeSpan.FromMilliseconds(1)); // warm up
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++) tracing.PacketCompleted(context, reply, TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.False(tracing.Enabled);
    }

    [Fact]
    public void Spans_go_to_the_endpoint_path_v1_traces()
    {
        Assert.Equal("http://collector:4318/v1/traces", ConnectorTracing.TracesUrl(new Uri("http://collector:4318")).ToString());
        Assert.Equal("https://otel.example/base/v1/traces", ConnectorTracing.TracesUrl(new Uri("https://otel.example/base")).ToString());
    }
}
