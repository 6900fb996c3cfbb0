namespace M2M.Server.Explorer;

/// <summary>
/// One thing the Explorer shows. Packets: one event per Prepare when its reply is known, typed
/// "fulfill" or "reject" and carrying the Prepare's fields (amount, destination, peer in, next hop,
/// latency, reject code). Peers: "peer_up" / "peer_down". Settlements: "settlement_requested",
/// "settlement_paid", "settlement_failed" (peer, amount, method, settlement id, reference or error).
/// Payment channels: "channel_opened", "channel_disputed", "channel_closed", "claim_sent",
/// "claim_received" (peer, method, channel id, amount). Routes: "route_added", "route_changed",
/// "route_removed" (prefix, next hop in <see cref="Peer"/>). Agent wallets: "wallet_created", "wallet_suspended",
/// "wallet_reactivated", "wallet_archived" (agent, the audit trail's detail in <see cref="Message"/>). Amounts are strings (they are ulongs or
/// wei; JSON numbers would lose digits in a browser). Never conditions' preimages, data or tokens.
/// </summary>
public sealed record ExplorerEvent
{
    public long Seq { get; init; }
    public required DateTimeOffset Time { get; init; }
    public required string Type { get; init; }
    public string? PacketId { get; init; }
    public string? Amount { get; init; }
    public string? Destination { get; init; }
    public string? PeerIn { get; init; }
    public string? PeerOut { get; init; }
    public double? LatencyMs { get; init; }
    public string? Code { get; init; }
    public string? Message { get; init; }
    public string? TriggeredBy { get; init; }
    public string? Peer { get; init; }
    public string? Method { get; init; }
    public string? SettlementId { get; init; }
    public string? ChannelId { get; init; }
    public string? Reference { get; init; }
    public string? Prefix { get; init; }
    public string? Agent { get; init; }

    public const string Fulfill = "fulfill";
    public const string Reject = "reject";
    public const string PeerUp = "peer_up";
    public const string PeerDown = "peer_down";

    public const string SettlementRequested = "settlement_requested";
    public const string SettlementPaid = "settlement_paid";
    public const string SettlementFailed = "settlement_failed";
    public const string ChannelOpened = "channel_opened";
    public const string ChannelDisputed = "channel_disputed";
    public const string ChannelClosed = "channel_closed";
    public const string ClaimSent = "claim_sent";
    public const string ClaimReceived = "claim_received";
    public const string RouteAdded = "route_added";
    public const string RouteChanged = "route_changed";
    public const string RouteRemoved = "route_removed";
    public const string WalletCreated = "wallet_created";
    public const string WalletSuspended = "wallet_suspended";
    public const string WalletReactivated = "wallet_reactivated";
    public const string WalletArchived = "wallet_archived";

    public static readonly string[] Types =
    [
        Fulfill, Reject, PeerUp, PeerDown, SettlementRequested, SettlementPaid, SettlementFailed,
        ChannelOpened, ChannelDisputed, ChannelClosed, ClaimSent, ClaimReceived, RouteAdded, RouteChanged, RouteRemoved,
        WalletCreated, WalletSuspended, WalletReactivated, WalletArchived,
    ];

    /// <summary>Whether the event concerns <paramref name="peer"/> (as sender, next hop or the peer going up/down).</summary>
    public bool Involves(string peer) => PeerIn == peer || PeerOut == peer || Peer == peer;
}

/// <summary>A query on the store: every filter optional; newest first, <see cref="Before"/> is the paging cursor.</summary>
public sealed record ExplorerQuery
{
    /// <summary>One type, or several separated by commas.</summary>
    public string? Type { get; init; }
    public string? Peer { get; init; }
    public string? PacketId { get; init; }
    public DateTimeOffset? From { get; init; }
    public DateTimeOffset? To { get; init; }
    /// <summary>Only events with a smaller sequence number (the <c>next</c> of the previous page).</summary>
    public long? Before { get; init; }
    public int Limit { get; init; } = 100;

    public bool Matches(ExplorerEvent e) =>
        (Type is null || Type.Split(',').Contains(e.Type))
        && (Peer is null || e.Involves(Peer))
        && (PacketId is null || string.Equals(e.PacketId, PacketId, StringComparison.OrdinalIgnoreCase))
        && (From is null || e.Time >= From)
        && (To is null || e.Time < To)
        && (Before is null || e.Seq < Before);
}

/// <summary>A page of events, newest first; <see cref="Next"/> is the cursor for the next (older) page, null at the end.</summary>
public sealed record ExplorerPage(IReadOnlyList<ExplorerEvent> Events,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.Never)] long? Next);
