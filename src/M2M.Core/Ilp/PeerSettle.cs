using System.Security.Cryptography;

namespace M2M.Core.Ilp;

/// <summary>
/// Settlement engine messages between peers (RFC 38 "Exchanging messages"): the origin connector wraps the
/// engine's bytes in a Prepare to <c>peer.settle</c> (amount 0); the peer's connector hands the data to its own
/// engine, never forwards the Prepare, and answers with a Fulfill (fulfillment 32 zero bytes, data = the
/// engine's response) or a Reject (F00 when the engine refused the message, T00 when it failed).
/// As interledger-rs does, the condition is sha256 of the zero fulfillment, so the Fulfill verifies.
/// </summary>
public static class PeerSettle
{
    public const string Destination = "peer.settle";

    /// <summary>32 zero bytes.</summary>
    public static ReadOnlyMemory<byte> Fulfillment { get; } = new byte[32];

    /// <summary>sha256(32 zero bytes).</summary>
    public static ReadOnlyMemory<byte> Condition { get; } = SHA256.HashData(new byte[32]);

    public static IlpPrepare CreatePrepare(ReadOnlyMemory<byte> message, DateTimeOffset expiresAt) => new()
    {
        Amount = 0,
        ExpiresAt = expiresAt,
        ExecutionCondition = Condition,
        Destination = Destination,
        Data = message,
    };

    public static IlpFulfill CreateFulfill(ReadOnlyMemory<byte> response) => new() { Fulfillment = Fulfillment, Data = response };
}
