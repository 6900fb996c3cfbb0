using System.Text.Json;
using M2M.Core.Routing;

namespace M2M.Core.Tests;

/// <summary>CCP payloads byte-for-byte against npm ilp-protocol-ccp (tests/interop/gen-ccp-vectors.js).</summary>
[Trait("Tier", "unit")]
public class CcpCodecTests
{
    private static readonly JsonElement Vectors = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "ccp-vectors.json"))).RootElement;

    public static TheoryData<string> ControlNames() => Names("controls");
    public static TheoryData<string> UpdateNames() => Names("updates");

    [Theory]
    [MemberData(nameof(ControlNames))]
    public void Route_control_decodes_to_the_npm_fields_and_encodes_to_the_npm_bytes(string name)
    {
        var v = Vector("controls", name);
        byte[] bytes = Convert.FromHexString(v.GetProperty("hex").GetString()!);

        Assert.True(Ccp.TryDecodeControl(bytes, out var control, out string? error), error);
        Assert.Equal((CcpMode)v.GetProperty("mode").GetInt32(), control!.Mode);
        Assert.Equal(v.GetProperty("lastKnownRoutingTableId").GetString(), control.LastKnownRoutingTableId.ToString());
        Assert.Equal(v.GetProperty("lastKnownEpoch").GetUInt32(), control.LastKnownEpoch);
        Assert.Equal(v.GetProperty("features").EnumerateArray().Select(f => f.GetString()!), control.Features);

        var rebuilt = new CcpRouteControl((CcpMode)v.GetProperty("mode").GetInt32(), Guid.Parse(v.GetProperty("lastKnownRoutingTableId").GetString()!),
            v.GetProperty("lastKnownEpoch").GetUInt32(), [.. v.GetProperty("features").EnumerateArray().Select(f => f.GetString()!)]);
        Assert.Equal(v.GetProperty("hex").GetString(), Convert.ToHexStringLower(Ccp.EncodeControl(rebuilt)));
    }

    [Theory]
    [MemberData(nameof(UpdateNames))]
    public void Route_update_decodes_to_the_npm_fields_and_encodes_to_the_npm_bytes(string name)
    {
        var v = Vector("updates", name);
        byte[] bytes = Convert.FromHexString(v.GetProperty("hex").GetString()!);

        Assert.True(Ccp.TryDecodeUpdate(bytes, out var update, out string? error), error);
        Assert.Equal(v.GetProperty("routingTableId").GetString(), update!.RoutingTableId.ToString());
        Assert.Equal(v.GetProperty("currentEpochIndex").GetUInt32(), update.CurrentEpoch);
        Assert.Equal(v.GetProperty("fromEpochIndex").GetUInt32(), update.FromEpoch);
        Assert.Equal(v.GetProperty("toEpochIndex").GetUInt32(), update.ToEpoch);
        Assert.Equal(v.GetProperty("holdDownTime").GetUInt32(), update.HoldDownTimeMs);
        Assert.Equal(v.GetProperty("speaker").GetString(), update.Speaker);
        var routes = v.GetProperty("newRoutes").EnumerateArray().ToList();
        Assert.Equal(routes.Count, update.NewRoutes.Count);
        for (int i = 0; i < routes.Count; i++)
        {
            Assert.Equal(routes[i].GetProperty("prefix").GetString(), update.NewRoutes[i].Prefix);
            Assert.Equal(routes[i].GetProperty("path").EnumerateArray().Select(p => p.GetString()!), update.NewRoutes[i].Path);
            Assert.Equal(routes[i].GetProperty("auth").GetString(), Convert.ToHexStringLower(update.NewRoutes[i].Auth.Span));
            var props = routes[i].GetProperty("props").EnumerateArray().ToList();
            Assert.Equal(props.Count, update.NewRoutes[i].Props.Count);
            for (int j = 0; j < props.Count; j++)
            {
                var p = update.NewRoutes[i].Props[j];
                Assert.Equal(props[j].GetProperty("id").GetInt32(), p.Id);
                Assert.Equal(props[j].GetProperty("isUtf8").GetBoolean(), p.IsUtf8);
                Assert.Equal(props[j].GetProperty("isOptional").GetBoolean(), p.IsOptional);
                Assert.Equal(props[j].GetProperty("value").GetString(), Convert.ToHexStringLower(p.Value.Span));
            }
        }
        Assert.Equal(v.GetProperty("withdrawnRoutes").EnumerateArray().Select(p => p.GetString()!), update.WithdrawnRoutes);

        // Encoding the decoded fields gives the package's bytes again.
        Assert.Equal(v.GetProperty("hex").GetString(), Convert.ToHexStringLower(Ccp.EncodeUpdate(update)));
    }

    [Fact]
    public void Every_truncation_of_an_update_is_refused_with_a_reason_and_never_throws()
    {
        byte[] bytes = Convert.FromHexString(Vector("updates", "route-with-props").GetProperty("hex").GetString()!);
        for (int n = 0; n < bytes.Length; n++)
        {
            Assert.False(Ccp.TryDecodeUpdate(bytes.AsSpan(0, n), out _, out string? error));
            Assert.False(string.IsNullOrEmpty(error));
        }
        Assert.False(Ccp.TryDecodeUpdate([.. bytes, 0], out _, out string? trailing));
        Assert.Contains("after the last field", trailing);
    }

    [Fact]
    public void Malformed_updates_are_refused_with_a_reason()
    {
        var good = new CcpRouteUpdate(Guid.NewGuid(), 1, 0, 1, 1000, "g.a", [new CcpRoute("g.a.b", ["g.a"], new byte[32], [])], []);
        Assert.True(Ccp.TryDecodeUpdate(Ccp.EncodeUpdate(good), out _, out _));

        Assert.False(Ccp.TryDecodeUpdate(Ccp.EncodeUpdate(good with { FromEpoch = 5, ToEpoch = 2 }), out _, out string? epochs));
        Assert.Contains("fromEpoch 5 is after toEpoch 2", epochs);
        Assert.False(Ccp.TryDecodeUpdate(Ccp.EncodeUpdate(good with { NewRoutes = [new CcpRoute("g..x", [], new byte[32], [])] }), out _, out string? prefix));
        Assert.Contains("prefix 'g..x' is invalid", prefix);
        Assert.False(Ccp.TryDecodeUpdate(Ccp.EncodeUpdate(good with { NewRoutes = [new CcpRoute("g.\u0001x", [], new byte[32], [])] }), out _, out string? ascii));
        Assert.Contains("printable ASCII", ascii);

        // A count far beyond what the payload could hold is refused before anything is allocated for it.
        byte[] huge = [.. Ccp.EncodeUpdate(good with { NewRoutes = [] }).AsSpan(0, 16 + 16 + 1 + 3), 0x04, 0x7F, 0xFF, 0xFF, 0xFF];
        Assert.False(Ccp.TryDecodeUpdate(huge, out _, out string? count));
        Assert.Contains("above the limit", count);

        Assert.False(Ccp.TryDecodeControl([2, .. new byte[16], 0, 0, 0, 0, 1, 0], out _, out string? mode));
        Assert.Contains("unknown mode 2", mode);
    }

    private static TheoryData<string> Names(string kind)
    {
        var data = new TheoryData<string>();
        foreach (var v in Vectors.GetProperty(kind).EnumerateArray()) data.Add(v.GetProperty("name").GetString()!);
        return data;
    }

    private static JsonElement Vector(string kind, string name) =>
        Vectors.GetProperty(kind).EnumerateArray().Single(v => v.GetProperty("name").GetString() == name);
}
