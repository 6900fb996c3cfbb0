namespace M2M.Btp;

/// <summary>Per-session resource limits and timings.</summary>
public sealed record BtpLimits
{
    /// <summary>
    /// Largest accepted WebSocket message. ILP packets are at most ~32.8 KB (32,767-byte data plus
    /// headers); 64 KiB leaves room for BTP framing and extra protocol data.
    /// </summary>
    public int MaxFrameBytes
    {
        get;
        init => field = value is >= MinFrameBytes and <= MaxSupportedFrameBytes ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxFrameBytes), value, $"Must be {MinFrameBytes}..{MaxSupportedFrameBytes}.");
    } = 65_536;

    /// <summary>Smallest useful frame: header plus a minimal auth MESSAGE.</summary>
    public const int MinFrameBytes = 64;

    /// <summary>Receive buffers are pooled per session; keep them bounded.</summary>
    public const int MaxSupportedFrameBytes = 16 * 1024 * 1024;

    /// <summary>How long a new connection may take to complete BTP auth.</summary>
    public TimeSpan AuthTimeout { get; init => field = Positive(value, nameof(AuthTimeout)); } = TimeSpan.FromSeconds(10);

    /// <summary>WebSocket ping interval for outgoing connections (keeps NATs and proxies from idling us out).</summary>
    public TimeSpan KeepAliveInterval { get; init => field = Positive(value, nameof(KeepAliveInterval)); } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Maximum outstanding requests per session, counted separately for requests we sent and
    /// requests the peer sent us. Bounds memory if a peer floods or stops answering.
    /// </summary>
    public int MaxInFlightRequests
    {
        get;
        init => field = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(MaxInFlightRequests), value, "Must be positive.");
    } = 10_000;

    /// <summary>How long a close handshake may take before the socket is aborted.</summary>
    public TimeSpan CloseTimeout { get; init => field = Positive(value, nameof(CloseTimeout)); } = TimeSpan.FromSeconds(5);

    public static BtpLimits Default { get; } = new();

    private static TimeSpan Positive(TimeSpan value, string name) =>
        value > TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(name, value, "Must be positive.");
}
