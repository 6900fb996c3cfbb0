using M2M.Core.Ilp;
using M2M.Core.Switch;
using M2M.Server.Observability;
using M2M.TestKit;

namespace M2M.Server.Tests;

/// <summary>ilp_packets_processed_total carries the reject code, with the same bounded label set as ilp_packet_error_total.</summary>
[Trait("Tier", "unit")]
public class RejectCodeMetricsTests
{
    [Fact]
    public async Task Rejects_are_counted_by_code_in_both_metrics_and_odd_codes_become_other()
    {
        var metrics = new ConnectorMetrics();
        var context = new PacketContext(TestPeer.Payment("g.bob.x", 5), new PeerDescriptor("alice", PeerRelation.Peer, "USD", 9, null), DateTimeOffset.UtcNow, CancellationToken.None);
        var elapsed = TimeSpan.FromMilliseconds(1);
        for (int i = 0; i < 3; i++) metrics.PacketCompleted(context, new IlpFulfill { Fulfillment = new byte[32] }, elapsed);
        for (int i = 0; i < 5; i++) metrics.PacketCompleted(context, Reject("T04"), elapsed);
        metrics.PacketCompleted(context, Reject("F99"), elapsed);
        metrics.PacketCompleted(context, Reject("F02"), elapsed);
        metrics.PacketCompleted(context, Reject("XYZ"), elapsed);
        metrics.PacketCompleted(context, Reject("T4"), elapsed);
        metrics.InvalidPacket();

        string text = await Scrape(metrics);

        Assert.Contains("ilp_packets_processed_total{type=\"prepare\",status=\"fulfilled\",code=\"\"} 3", text);
        Assert.Contains("ilp_packets_processed_total{type=\"prepare\",status=\"rejected\",code=\"T04\"} 5", text);
        Assert.Contains("ilp_packets_processed_total{type=\"prepare\",status=\"rejected\",code=\"F99\"} 1", text);
        Assert.Contains("ilp_packets_processed_total{type=\"prepare\",status=\"rejected\",code=\"F02\"} 1", text);
        Assert.Contains("ilp_packets_processed_total{type=\"prepare\",status=\"rejected\",code=\"other\"} 2", text);
        Assert.Contains("ilp_packets_processed_total{type=\"prepare\",status=\"rejected\",code=\"F01\"} 1", text);
        Assert.Contains("ilp_packet_error_total{code=\"T04\"} 5", text);
        Assert.Contains("ilp_packet_error_total{code=\"other\"} 2", text);
        Assert.Contains("ilp_packet_error_total{code=\"F01\"} 1", text);
        // The two metrics agree: every rejected Prepare is one error, under the same code.
        Assert.Equal(SumOf(text, "ilp_packets_processed_total{type=\"prepare\",status=\"rejected\""), SumOf(text, "ilp_packet_error_total{"));
    }

    [Fact]
    public async Task A_peer_sending_many_distinct_odd_codes_cannot_grow_the_label_set()
    {
        var metrics = new ConnectorMetrics();
        var context = new PacketContext(TestPeer.Payment("g.bob.x", 5), new PeerDescriptor("alice", PeerRelation.Peer, "USD", 9, null), DateTimeOffset.UtcNow, CancellationToken.None);
        for (int i = 0; i < 2000; i++) metrics.PacketCompleted(context, Reject($"Z{i}"), TimeSpan.FromMilliseconds(1));
        string text = await Scrape(metrics);
        Assert.Equal(1, text.Split('\n').Count(l => l.StartsWith("ilp_packets_processed_total{type=\"prepare\",status=\"rejected\"", StringComparison.Ordinal)));
        Assert.Contains("ilp_packets_processed_total{type=\"prepare\",status=\"rejected\",code=\"other\"} 2000", text);
    }

    private static IlpReject Reject(string code) => new() { Code = code, TriggeredBy = "g.us", Message = "x" };

    private static async Task<string> Scrape(ConnectorMetrics metrics)
    {
        using var stream = new MemoryStream();
        await metrics.WriteAsync(stream, CancellationToken.None);
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    private static double SumOf(string text, string prefix) =>
        text.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
}
