using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using M2M.Core.Ilp;
using M2M.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace M2M.Process.Tests;

/// <summary>OTEL_ENABLED=true on a real connector process: spans reach a loopback OTLP/HTTP receiver.</summary>
[Trait("Tier", "process")]
public class TracingProcessTests
{
    [Fact]
    public async Task Packets_and_settlements_are_exported_as_OTLP_spans_without_secrets()
    {
        var bodies = new ConcurrentQueue<byte[]>();
        var (receiver, receiverUrl) = await LoopbackWeb.StartAsync(app =>
        {
            app.MapPost("/v1/traces", async (HttpContext ctx) =>
            {
                using var buffer = new MemoryStream();
                await ctx.Request.Body.CopyToAsync(buffer);
                bodies.Enqueue(buffer.ToArray());
                return ctx.Request.ContentType == "application/x-protobuf" ? Results.Ok() : Results.StatusCode(415);
            });
            app.MapPost("/engine/accounts/{id}/settlements", () => Results.Created());
        });
        await using var _ = receiver;
        string dir = OpsScripts.TempDir();
        Directory.CreateDirectory(dir);
        string config = Path.Combine(dir, "traced.yaml");
        await File.WriteAllTextAsync(config, $$"""
            nodeId: traced
            ilpAddress: test.traced
            peers:
              - id: alice
                relation: child
              - id: bob
                relation: child
                settlement: { threshold: 250, settleTo: 0, method: rfc38, engineUrl: "{{receiverUrl}}engine/" }
            """);
        using var connector = await RunningConnector.StartAsync(config, new Dictionary<string, string>
        {
            ["BTP_PEER_ALICE_SECRET"] = "alice-secret-xyz", ["BTP_PEER_BOB_SECRET"] = "bob-secret-xyz",
            ["OTEL_ENABLED"] = "true", ["OTEL_SERVICE_NAME"] = "trace-test", ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiverUrl.ToString().TrimEnd('/'),
        });
        await using (var alice = await TestPeer.ConnectAsync(connector.BtpPort, "alice", "alice-secret-xyz"))
        await using (var bob = await TestPeer.ConnectAsync(connector.BtpPort, "bob", "bob-secret-xyz"))
        {
            for (int i = 0; i < 3; i++) Assert.IsType<IlpFulfill>(await alice.SendAsync(TestPeer.Payment("test.traced.bob.x", 100)));
            Assert.Equal("F02", Assert.IsType<IlpReject>(await alice.SendAsync(TestPeer.Payment("g.nowhere", 7))).Code);
            await WaitUntil(() => Spans(bodies).Any(s => s.Name == "settlement.execute"), TimeSpan.FromSeconds(15));
        }
        connector.Process.Signal(CliProcess.SIGTERM);
        Assert.Equal(0, await connector.Process.WaitForExitAsync(TimeSpan.FromSeconds(30)));

        var spans = Spans(bodies);
        var prepares = spans.Where(s => s.Name == "ilp.prepare").ToList();
        Assert.Equal(4, prepares.Count);
        Assert.All(prepares, s => Assert.Equal("trace-test", s.Resource["service.name"]));
        Assert.All(prepares, s => Assert.Equal("alice", s.Attributes["ilp.source_peer"]));
        var fulfilled = prepares.Where(s => s.Attributes["ilp.result"] == "fulfilled").ToList();
        Assert.Equal(3, fulfilled.Count);
        Assert.All(fulfilled, s => Assert.Equal(("bob", "100"), (s.Attributes["ilp.next_hop"], s.Attributes["ilp.amount"])));
        var rejected = Assert.Single(prepares, s => s.Attributes["ilp.result"] == "rejected");
        Assert.Equal(("F02", "7"), (rejected.Attributes["ilp.error_code"], rejected.Attributes["ilp.amount"]));
        var settlement = Assert.Single(spans, s => s.Name == "settlement.execute");
        Assert.Equal(("bob", "rfc38", "300", "confirmed"), (settlement.Attributes["settlement.peer"], settlement.Attributes["settlement.method"],
            settlement.Attributes["settlement.amount"], settlement.Attributes["settlement.result"]));
        string everything = string.Join("\n", bodies.Select(Encoding.Latin1.GetString));
        Assert.DoesNotContain("secret-xyz", everything);
    }

    private static async Task WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition() && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.True(condition(), "condition not met in time");
    }

    private sealed record Span(string Name, Dictionary<string, string> Attributes, Dictionary<string, string> Resource);

    /// <summary>
    /// A minimal decoder of opentelemetry-proto's ExportTraceServiceRequest: resource_spans = 1 →
    /// {resource = 1 → {attributes = 1}, scope_spans = 2 → {spans = 2 → {name = 5, attributes = 9}}};
    /// KeyValue {key = 1, value = 2 → AnyValue {string = 1, bool = 2, int = 3, double = 4}}.
    /// </summary>
    private static List<Span> Spans(IEnumerable<byte[]> bodies)
    {
        var spans = new List<Span>();
        foreach (var body in bodies.ToArray())
        {
            foreach (var resourceSpans in Fields(body).Where(f => f.Number == 1))
            {
                var resource = Fields(resourceSpans.Bytes).Where(f => f.Number == 1).SelectMany(r => Attributes(r.Bytes, 1)).ToDictionary();
                foreach (var scope in Fields(resourceSpans.Bytes).Where(f => f.Number == 2))
                {
                    foreach (var span in Fields(scope.Bytes).Where(f => f.Number == 2))
                    {
                        var fields = Fields(span.Bytes);
                        string name = Encoding.UTF8.GetString(fields.First(f => f.Number == 5).Bytes);
                        spans.Add(new Span(name, Attributes(span.Bytes, 9).ToDictionary(), resource));
                    }
                }
            }
        }
        return spans;
    }

    private static IEnumerable<KeyValuePair<string, string>> Attributes(byte[] message, int field) =>
        Fields(message).Where(f => f.Number == field).Select(kv =>
        {
            var parts = Fields(kv.Bytes);
            string key = Encoding.UTF8.GetString(parts.First(p => p.Number == 1).Bytes);
            var value = Fields(parts.First(p => p.Number == 2).Bytes).Single();
            string text = value.Number switch
            {
                1 => Encoding.UTF8.GetString(value.Bytes),
                2 => (value.Varint != 0).ToString(),
                3 => ((long)value.Varint).ToString(CultureInfo.InvariantCulture),
                4 => BitConverter.Int64BitsToDouble((long)value.Varint).ToString(CultureInfo.InvariantCulture),
                _ => $"<field {value.Number}>",
            };
            return new KeyValuePair<string, string>(key, text);
        });

    private sealed record Field(int Number, byte[] Bytes, ulong Varint);

    private static List<Field> Fields(byte[] data)
    {
        var fields = new List<Field>();
        int i = 0;
        while (i < data.Length)
        {
            ulong tag = Varint(data, ref i);
            int number = (int)(tag >> 3);
            switch ((int)(tag & 7))
            {
                case 0:
                    fields.Add(new Field(number, [], Varint(data, ref i)));
                    break;
                case 1:
                    fields.Add(new Field(number, [], BitConverter.ToUInt64(data, i)));
                    i += 8;
                    break;
                case 2:
                    int length = (int)Varint(data, ref i);
                    fields.Add(new Field(number, data[i..(i + length)], 0));
                    i += length;
                    break;
                case 5:
                    fields.Add(new Field(number, [], BitConverter.ToUInt32(data, i)));
                    i += 4;
                    break;
                default:
                    throw new InvalidDataException($"unexpected protobuf wire type in field {number}");
            }
        }
        return fields;
    }

    private static ulong Varint(byte[] data, ref int i)
    {
        ulong value = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte b = data[i++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80) return value;
        }
    }
}
