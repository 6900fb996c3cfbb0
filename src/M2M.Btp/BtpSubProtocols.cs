using System.Collections.Frozen;

namespace M2M.Btp;

/// <summary>
/// One named BTP sub-protocol a host speaks besides "ilp" (e.g. "payment-channel-claim"): see
/// <see cref="IBtpMessageHandler.HandleSubProtocolAsync"/> for what the peer gets back.
/// </summary>
public interface IBtpSubProtocol
{
    /// <summary>The protocol-data name this handler answers (exact, case-sensitive, as on the wire).</summary>
    string ProtocolName { get; }

    /// <summary>Returns the RESPONSE entry (or null for an empty RESPONSE); throwing answers BTP ERROR F00 with the message.</summary>
    ValueTask<BtpProtocolData?> HandleAsync(BtpSession session, BtpProtocolData entry, CancellationToken ct);
}

/// <summary>The sub-protocols a host speaks, by name; an unknown name gets an empty RESPONSE (as ilp-plugin-btp does).</summary>
public sealed class BtpSubProtocols
{
    private readonly FrozenDictionary<string, IBtpSubProtocol> _byName;

    public BtpSubProtocols(IEnumerable<IBtpSubProtocol> protocols)
    {
        var byName = new Dictionary<string, IBtpSubProtocol>(StringComparer.Ordinal);
        foreach (var p in protocols)
        {
            if (!byName.TryAdd(p.ProtocolName, p)) throw new ArgumentException($"BTP sub-protocol '{p.ProtocolName}' is registered twice", nameof(protocols));
        }
        _byName = byName.ToFrozenDictionary(StringComparer.Ordinal);
    }

    public static BtpSubProtocols None { get; } = new([]);

    public IReadOnlyCollection<string> Names => _byName.Keys;

    public ValueTask<BtpProtocolData?> DispatchAsync(BtpSession session, BtpProtocolData entry, CancellationToken ct) =>
        _byName.TryGetValue(entry.ProtocolName, out var handler) ? handler.HandleAsync(session, entry, ct) : ValueTask.FromResult<BtpProtocolData?>(null);
}
