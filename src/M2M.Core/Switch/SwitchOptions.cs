namespace M2M.Core.Switch;

/// <summary>Limits of the packet switch, with the reason for each default.</summary>
public sealed record SwitchOptions
{
    /// <summary>Our ILP address: triggeredBy of our rejects and the parent of our children's addresses. Settable: a child learns it from its parent by ILDCP after start.</summary>
    public required string IlpAddress { get; set; }

    /// <summary>How much earlier the outgoing Prepare expires than the incoming one: time to pass the Fulfill back (ilp-connector's minMessageWindow).</summary>
    public TimeSpan ExpiryMargin { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest we hold a packet: caps how long liquidity stays reserved (ilp-connector's maxHoldTime).</summary>
    public TimeSpan MaxHoldTime { get; init; } = TimeSpan.FromSeconds(30);
}
