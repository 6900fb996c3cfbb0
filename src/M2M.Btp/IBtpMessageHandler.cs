namespace M2M.Btp;

/// <summary>Handles ILP packets a peer sends us over BTP.</summary>
public interface IBtpMessageHandler
{
    /// <summary>
    /// Returns the ILP reply (fulfill or reject) for <paramref name="ilpPacket"/>. The input is only
    /// valid until the returned task completes; copy it to keep it. Called concurrently. Throwing makes
    /// the session answer with a BTP ERROR T00.
    /// </summary>
    ValueTask<ReadOnlyMemory<byte>> HandleIlpAsync(BtpSession session, ReadOnlyMemory<byte> ilpPacket, CancellationToken ct);
}

/// <summary>
/// Validates BTP auth credentials and returns the authenticated peer id, or null to reject.
/// Implementations must compare tokens in constant time
/// (<see cref="System.Security.Cryptography.CryptographicOperations.FixedTimeEquals"/>) and must not log the token.
/// </summary>
public delegate string? BtpAuthenticator(string authUsername, string authToken);
