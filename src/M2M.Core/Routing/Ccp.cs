using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using M2M.Core.Ilp;

namespace M2M.Core.Routing;

/// <summary>CCP route control mode: IDLE (send me nothing) or SYNC (send me your routes).</summary>
public enum CcpMode : byte
{
    Idle = 0,
    Sync = 1,
}

/// <summary><c>peer.route.control</c>: the receiver of routes tells the sender its mode and the last epoch it has.</summary>
public sealed record CcpRouteControl(CcpMode Mode, Guid LastKnownRoutingTableId, uint LastKnownEpoch, IReadOnlyList<string> Features);

/// <summary>A route property (none are defined yet; kept so an update round-trips).</summary>
public sealed record CcpRouteProp(bool IsOptional, bool IsTransitive, bool IsPartial, bool IsUtf8, ushort Id, ReadOnlyMemory<byte> Value);

/// <summary>An advertised route: the prefix, the path of connector addresses it went through, a 32-byte auth.</summary>
public sealed record CcpRoute(string Prefix, IReadOnlyList<string> Path, ReadOnlyMemory<byte> Auth, IReadOnlyList<CcpRouteProp> Props);

/// <summary><c>peer.route.update</c>: the log entries (fromEpoch, toEpoch] of the speaker's routing table.</summary>
public sealed record CcpRouteUpdate(
    Guid RoutingTableId,
    uint CurrentEpoch,
    uint FromEpoch,
    uint ToEpoch,
    uint HoldDownTimeMs,
    string Speaker,
    IReadOnlyList<CcpRoute> NewRoutes,
    IReadOnlyList<string> WithdrawnRoutes);

/// <summary>
/// The Connector-to-Connector Protocol as npm <c>ilp-protocol-ccp</c> 1.2 encodes it (the de-facto
/// spec followed by ilp-connector, interledger-rs and the Java connector). Both messages are ILP
/// Prepares of amount 0 to <c>peer.route.control</c> / <c>peer.route.update</c> with the peer
/// protocol condition (sha256 of 32 zero bytes); the answer is a Fulfill with 32 zero bytes.
/// <code>
/// route control:  mode UInt8 | lastKnownRoutingTableId 16 bytes (UUID) | lastKnownEpoch UInt32
///                 | features VarUInt count × VarOctetString (UTF-8)
/// route update:   routingTableId 16 bytes | currentEpochIndex UInt32 | fromEpochIndex UInt32
///                 | toEpochIndex UInt32 | holdDownTime UInt32 (ms) | speaker VarOctetString (ASCII)
///                 | newRoutes VarUInt count × (prefix VarOctetString | path VarUInt count × VarOctetString
///                   | auth 32 bytes | props VarUInt count × (meta UInt8 | id UInt16 | value VarOctetString))
///                 | withdrawnRoutes VarUInt count × VarOctetString
/// prop meta bits: 0x80 optional, 0x40 transitive, 0x20 partial, 0x10 UTF-8 value
/// </code>
/// Integers are big-endian; the UUID is its 16 bytes in text order. Decoding never throws.
/// </summary>
public static class Ccp
{
    public const string ControlDestination = "peer.route.control";
    public const string UpdateDestination = "peer.route.update";
    public const int AuthLength = 32;

    /// <summary>How long a CCP Prepare is valid (ilp-protocol-ccp: 60 s).</summary>
    public static readonly TimeSpan RequestLifetime = TimeSpan.FromSeconds(60);

    /// <summary>Caps on what one update may carry, so a hostile peer cannot make us allocate without bound.</summary>
    public const int MaxRoutesPerUpdate = 10_000;
    public const int MaxPathLength = 64;
    public const int MaxFeatures = 64;
    public const int MaxProps = 64;

    // ---- encode ----

    public static byte[] EncodeControl(CcpRouteControl control)
    {
        var w = new ArrayBufferWriter<byte>();
        w.Write([(byte)control.Mode]);
        WriteUuid(w, control.LastKnownRoutingTableId);
        WriteUInt32(w, control.LastKnownEpoch);
        Oer.Oer.WriteVarUInt(w, (ulong)control.Features.Count);
        foreach (var f in control.Features) Oer.Oer.WriteVarOctetString(w, Encoding.UTF8.GetBytes(f));
        return w.WrittenSpan.ToArray();
    }

    public static byte[] EncodeUpdate(CcpRouteUpdate update)
    {
        var w = new ArrayBufferWriter<byte>();
        WriteUuid(w, update.RoutingTableId);
        WriteUInt32(w, update.CurrentEpoch);
        WriteUInt32(w, update.FromEpoch);
        WriteUInt32(w, update.ToEpoch);
        WriteUInt32(w, update.HoldDownTimeMs);
        Oer.Oer.WriteVarOctetString(w, Encoding.ASCII.GetBytes(update.Speaker));
        Oer.Oer.WriteVarUInt(w, (ulong)update.NewRoutes.Count);
        foreach (var route in update.NewRoutes)
        {
            Oer.Oer.WriteVarOctetString(w, Encoding.ASCII.GetBytes(route.Prefix));
            Oer.Oer.WriteVarUInt(w, (ulong)route.Path.Count);
            foreach (var hop in route.Path) Oer.Oer.WriteVarOctetString(w, Encoding.ASCII.GetBytes(hop));
            if (route.Auth.Length != AuthLength) throw new ArgumentException($"route auth must be 32 bytes (prefix {route.Prefix})", nameof(update));
            w.Write(route.Auth.Span);
            Oer.Oer.WriteVarUInt(w, (ulong)route.Props.Count);
            foreach (var prop in route.Props)
            {
                // The same normalisation as ilp-protocol-ccp: a mandatory prop is always transitive.
                byte meta = 0;
                if (prop.IsOptional)
                {
                    meta |= 0x80;
                    if (prop.IsTransitive) meta |= (byte)(0x40 | (prop.IsPartial ? 0x20 : 0));
                }
                else
                {
                    meta |= 0x40;
                }
                if (prop.IsUtf8) meta |= 0x10;
                w.Write([meta, (byte)(prop.Id >> 8), (byte)prop.Id]);
                Oer.Oer.WriteVarOctetString(w, prop.Value.Span);
            }
        }
        Oer.Oer.WriteVarUInt(w, (ulong)update.WithdrawnRoutes.Count);
        foreach (var prefix in update.WithdrawnRoutes) Oer.Oer.WriteVarOctetString(w, Encoding.ASCII.GetBytes(prefix));
        return w.WrittenSpan.ToArray();
    }

    public static IlpPrepare ControlPrepare(CcpRouteControl control, DateTimeOffset now) =>
        PeerProtocolPrepare(ControlDestination, EncodeControl(control), now);

    public static IlpPrepare UpdatePrepare(CcpRouteUpdate update, DateTimeOffset now) =>
        PeerProtocolPrepare(UpdateDestination, EncodeUpdate(update), now);

    /// <summary>The Fulfill every accepted CCP message gets: 32 zero bytes, no data.</summary>
    public static IlpFulfill Accepted() => new() { Fulfillment = Ildcp.Fulfillment };

    private static IlpPrepare PeerProtocolPrepare(string destination, byte[] data, DateTimeOffset now) => new()
    {
        Amount = 0,
        Destination = destination,
        ExecutionCondition = Ildcp.Condition,
        ExpiresAt = now + RequestLifetime,
        Data = data,
    };

    // ---- decode ----

    /// <summary>Decodes a route control payload; on failure <paramref name="error"/> says what is wrong.</summary>
    public static bool TryDecodeControl(ReadOnlySpan<byte> data, out CcpRouteControl? control, out string? error)
    {
        control = null;
        var r = new Reader(data);
        if (!r.UInt8(out byte mode) || !r.Uuid(out var tableId) || !r.UInt32(out uint epoch) || !r.Count(MaxFeatures, out int count))
            return Fail(r, "route control", out error);
        if (mode > (byte)CcpMode.Sync) return Fail($"route control: unknown mode {mode}", out error);
        var features = new List<string>(count);
        for (int i = 0; i < count; i++)
        {
            if (!r.Utf8(255, out string f)) return Fail(r, "route control feature", out error);
            features.Add(f);
        }
        if (!r.AtEnd) return Fail($"route control: {r.Remaining} bytes after the last field", out error);
        control = new CcpRouteControl((CcpMode)mode, tableId, epoch, features);
        error = null;
        return true;
    }

    /// <summary>Decodes a route update payload; prefixes and path hops must be valid ILP addresses.</summary>
    public static bool TryDecodeUpdate(ReadOnlySpan<byte> data, out CcpRouteUpdate? update, out string? error)
    {
        update = null;
        var r = new Reader(data);
        if (!r.Uuid(out var tableId) || !r.UInt32(out uint current) || !r.UInt32(out uint from) || !r.UInt32(out uint to)
            || !r.UInt32(out uint holdDown) || !r.Ascii(IlpAddress.MaxLength, out string speaker) || !r.Count(MaxRoutesPerUpdate, out int newCount))
            return Fail(r, "route update header", out error);
        if (from > to) return Fail($"route update: fromEpoch {from} is after toEpoch {to}", out error);
        var routes = new List<CcpRoute>(Math.Min(newCount, 256));
        for (int i = 0; i < newCount; i++)
        {
            if (!r.Ascii(IlpAddress.MaxLength, out string prefix) || !r.Count(MaxPathLength, out int pathLength))
                return Fail(r, $"new route {i}", out error);
            if (RoutingTable.ValidatePrefix(prefix) is { } bad) return Fail($"new route {i}: prefix '{Printable(prefix)}' is invalid ({bad})", out error);
            var path = new List<string>(pathLength);
            for (int j = 0; j < pathLength; j++)
            {
                if (!r.Ascii(IlpAddress.MaxLength, out string hop)) return Fail(r, $"new route {i} path", out error);
                path.Add(hop);
            }
            if (!r.Bytes(AuthLength, out var auth) || !r.Count(MaxProps, out int propCount)) return Fail(r, $"new route {i}", out error);
            var props = new List<CcpRouteProp>(propCount);
            for (int j = 0; j < propCount; j++)
            {
                if (!r.UInt8(out byte meta) || !r.UInt16(out ushort id) || !r.OctetString(ushort.MaxValue, out var value))
                    return Fail(r, $"new route {i} property {j}", out error);
                props.Add(new CcpRouteProp((meta & 0x80) != 0, (meta & 0x40) != 0, (meta & 0x20) != 0, (meta & 0x10) != 0, id, value));
            }
            routes.Add(new CcpRoute(prefix, path, auth, props));
        }
        if (!r.Count(MaxRoutesPerUpdate, out int withdrawnCount)) return Fail(r, "withdrawn routes", out error);
        var withdrawn = new List<string>(Math.Min(withdrawnCount, 256));
        for (int i = 0; i < withdrawnCount; i++)
        {
            if (!r.Ascii(IlpAddress.MaxLength, out string prefix)) return Fail(r, $"withdrawn route {i}", out error);
            withdrawn.Add(prefix);
        }
        if (!r.AtEnd) return Fail($"route update: {r.Remaining} bytes after the last field", out error);
        update = new CcpRouteUpdate(tableId, current, from, to, holdDown, speaker, routes, withdrawn);
        error = null;
        return true;
    }

    private static bool Fail(Reader r, string where, out string? error)
    {
        error = $"{where}: {r.Problem ?? "truncated"}";
        return false;
    }

    private static bool Fail(string message, out string? error)
    {
        error = message;
        return false;
    }

    private static string Printable(string s)
    {
        var sb = new StringBuilder(Math.Min(s.Length, 64));
        foreach (char c in s.AsSpan(0, Math.Min(s.Length, 64))) sb.Append(char.IsControl(c) ? '?' : c);
        return s.Length > 64 ? sb.Append('…').ToString() : sb.ToString();
    }

    private static void WriteUuid(IBufferWriter<byte> w, Guid id)
    {
        Span<byte> b = stackalloc byte[16];
        id.TryWriteBytes(b, bigEndian: true, out _);
        w.Write(b);
    }

    private static void WriteUInt32(IBufferWriter<byte> w, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, value);
        w.Write(b);
    }

    /// <summary>A forward-only reader over the payload: each call consumes a field or records why it could not.</summary>
    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _pos;

        public string? Problem { get; private set; }
        public readonly bool AtEnd => _pos == _data.Length;
        public readonly int Remaining => _data.Length - _pos;

        public bool UInt8(out byte value)
        {
            value = 0;
            if (!Take(1, out var s)) return false;
            value = s[0];
            return true;
        }

        public bool UInt16(out ushort value)
        {
            value = 0;
            if (!Take(2, out var s)) return false;
            value = BinaryPrimitives.ReadUInt16BigEndian(s);
            return true;
        }

        public bool UInt32(out uint value)
        {
            value = 0;
            if (!Take(4, out var s)) return false;
            value = BinaryPrimitives.ReadUInt32BigEndian(s);
            return true;
        }

        public bool Uuid(out Guid value)
        {
            value = Guid.Empty;
            if (!Take(16, out var s)) return false;
            value = new Guid(s, bigEndian: true);
            return true;
        }

        public bool Bytes(int length, out ReadOnlyMemory<byte> value)
        {
            value = default;
            if (!Take(length, out var s)) return false;
            value = s.ToArray();
            return true;
        }

        public bool Count(int max, out int count)
        {
            count = 0;
            var status = Oer.Oer.TryReadVarUInt(_data[_pos..], out ulong v, out int used);
            if (status != OperationStatus.Done) return Bad(status == OperationStatus.NeedMoreData ? "truncated" : "invalid count");
            if (v > (ulong)max) return Bad($"count {v} is above the limit of {max}");
            _pos += used;
            count = (int)v;
            return true;
        }

        public bool OctetString(int max, out ReadOnlyMemory<byte> value)
        {
            value = default;
            var status = Oer.Oer.TryReadVarOctetString(_data[_pos..], max, out var range, out int used);
            if (status != OperationStatus.Done) return Bad(status == OperationStatus.NeedMoreData ? "truncated" : $"string longer than {max} bytes or a bad length");
            value = _data[_pos..][range].ToArray();
            _pos += used;
            return true;
        }

        public bool Ascii(int max, out string value)
        {
            value = "";
            var status = Oer.Oer.TryReadVarOctetString(_data[_pos..], max, out var range, out int used);
            if (status != OperationStatus.Done) return Bad(status == OperationStatus.NeedMoreData ? "truncated" : $"string longer than {max} bytes or a bad length");
            var bytes = _data[_pos..][range];
            if (bytes.ContainsAnyExceptInRange((byte)0x20, (byte)0x7E)) return Bad("an address is not printable ASCII");
            value = Encoding.ASCII.GetString(bytes);
            _pos += used;
            return true;
        }

        public bool Utf8(int max, out string value)
        {
            value = "";
            if (!OctetString(max, out var bytes)) return false;
            value = Encoding.UTF8.GetString(bytes.Span);
            return true;
        }

        private bool Take(int n, out ReadOnlySpan<byte> slice)
        {
            slice = default;
            if (_data.Length - _pos < n) return Bad("truncated");
            slice = _data.Slice(_pos, n);
            _pos += n;
            return true;
        }

        private bool Bad(string problem)
        {
            Problem ??= problem;
            return false;
        }
    }
}
