namespace M2M.Btp;

/// <summary>Per-session resource limits and timings.</summary>
public sealed record BtpLimits
{
    /// <summary>
    /// Largest accepted WebSocket message. ILP packets are at most ~32.8 KB (32,767-byte data plus
    /// headers); 64 KiB leaves room for BTP framing and extra protocol data.
    /// </summary>
    public int MaxFrameBytes { get; init; } = 65_536;

    /// <summary>How long a new connection may take to complete BTP auth.</summary>
    public TimeSpan AuthTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>WebSocket ping interval for outgoing connections (keeps NATs and proxies from idling us out).</summary>
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Maximum outstanding requests per session, counted separately for requests we sent and
    /// requests the peer sent us. Bounds memory if a peer floods or stops answering.
    /// </summary>
    public int MaxInFlightRequests { get; init; } = 10_000;

    /// <summary>How long a close handshake may take before the socket is aborted.</summary>
    public TimeSpan CloseTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public static BtpLimits Default { get; } = new();
}
