using System.Security.Cryptography;
using M2M.Core.Ilp;

namespace M2M.Core.Stream;

/// <summary>Progress of a STREAM send: source units fulfilled, destination units the receiver reported, packets.</summary>
public readonly record struct StreamProgress(ulong Sent, ulong Delivered, int Packets);

/// <summary>Why a STREAM send stopped before its amount; <see cref="Progress"/> is what was paid up to then (exact).</summary>
public sealed class StreamSendException(string message, StreamProgress progress) : Exception(message)
{
    public StreamProgress Progress { get; } = progress;
}

/// <summary>Limits of the STREAM sender, with the reason for each default.</summary>
public sealed record StreamSenderLimits
{
    /// <summary>Expiry given to each Prepare (ilp-protocol-stream's default is 30 s; less keeps liquidity free sooner).</summary>
    public TimeSpan PacketExpiry { get; init; } = TimeSpan.FromSeconds(20);
    /// <summary>Temporary errors (T.., R..) retried in a row before the send gives up.</summary>
    public int MaxRetries { get; init; } = 10;
    /// <summary>Packets one send may use (a 1-unit max packet amount would otherwise mean billions of packets).</summary>
    public int MaxPackets { get; init; } = 100_000;
}

/// <summary>
/// The sending side of STREAM (RFC 29), one stream (id 1) per connection, exact source amounts:
/// a handshake packet (amount 0, unfulfillable) tells the receiver our address and asset, then money
/// packets of at most the path's maximum packet amount (learned from F08) carry the amount; the last
/// chunk is never larger than what remains, so the sum sent is exactly the amount or less on failure.
/// Each Prepare's condition is SHA-256 of HMAC(fulfillment key, encrypted data), so only the holder
/// of the shared secret can fulfill it. <c>send</c> carries a Prepare through the switch.
/// </summary>
public sealed class StreamSender(Func<IlpPrepare, CancellationToken, ValueTask<IlpReply>> send, TimeProvider time, StreamSenderLimits? limits = null)
{
    private const ulong StreamId = 1;
    private readonly StreamSenderLimits _limits = limits ?? new StreamSenderLimits();

    /// <param name="beforePacket">Called with each money packet's amount before it is sent (to record it as in flight).</param>
    /// <param name="afterPacket">Called after each fulfilled packet with the running totals.</param>
    public async Task<StreamProgress> SendAsync(string destination, byte[] sharedSecret, string sourceAddress, (string Code, byte Scale) asset,
        ulong amount, Func<ulong, ValueTask> beforePacket, Func<StreamProgress, ValueTask> afterPacket, CancellationToken ct)
    {
        var keys = new Keys(sharedSecret);
        ulong sequence = 1;
        var progress = new StreamProgress(0, 0, 0);
        await HandshakeAsync(destination, keys, sequence++, sourceAddress, asset, progress, ct).ConfigureAwait(false);
        ulong maxPacket = amount;
        int retries = 0;
        while (progress.Sent < amount)
        {
            if (progress.Packets >= _limits.MaxPackets) throw new StreamSendException($"stopped after {progress.Packets} packets (the limit)", progress);
            ulong chunk = Math.Min(amount - progress.Sent, maxPacket);
            var request = new StreamPacket(IlpPacketType.Prepare, sequence++, 0, [new StreamMoneyFrame(StreamId, 1)]);
            var (prepare, fulfillment) = Build(destination, keys, request, chunk);
            await beforePacket(chunk).ConfigureAwait(false);
            var reply = await send(prepare, ct).ConfigureAwait(false);
            if (reply is IlpFulfill fulfill && CryptographicOperations.FixedTimeEquals(fulfill.Fulfillment.Span, fulfillment))
            {
                ulong delivered = Decrypt(keys, fulfill.Data) is { } answer ? answer.PrepareAmount : 0;
                progress = new StreamProgress(checked(progress.Sent + chunk), checked(progress.Delivered + delivered), progress.Packets + 1);
                retries = 0;
                await afterPacket(progress).ConfigureAwait(false);
                continue;
            }
            var reject = reply as IlpReject ?? IlpRejects.Create(IlpErrorCode.F05_WrongCondition, "", "fulfillment does not match the condition");
            if (reject.Code == IlpErrorCode.F08_AmountTooLarge && IlpRejects.TryReadAmountTooLarge(reject, out ulong received, out ulong maximum) && received > 0)
            {
                ulong reduced = (ulong)((UInt128)chunk * maximum / received);
                maxPacket = Math.Max(1, Math.Min(reduced, chunk - 1));
                continue;
            }
            if (!MayRetry(reject.Code, ref retries))
                throw new StreamSendException(Describe(reject, keys), progress);
            await BackOffAsync(retries, ct).ConfigureAwait(false);
        }
        await CloseAsync(destination, keys, sequence, ct).ConfigureAwait(false);
        return progress;
    }

    /// <summary>Amount 0, unfulfillable: the receiver answers F99 with its asset and limits (an F99 is the expected answer).</summary>
    private async Task HandshakeAsync(string destination, Keys keys, ulong sequence, string sourceAddress, (string Code, byte Scale) asset, StreamProgress progress, CancellationToken ct)
    {
        var request = new StreamPacket(IlpPacketType.Prepare, sequence, 0,
            [new ConnectionNewAddressFrame(sourceAddress), new ConnectionAssetDetailsFrame(asset.Code, asset.Scale)]);
        var (prepare, _) = Build(destination, keys, request, 0, unfulfillable: true);
        for (int retries = 0; ;)
        {
            var reply = await send(prepare, ct).ConfigureAwait(false);
            if (reply is IlpReject { Code: IlpErrorCode.F99_ApplicationError } r && Decrypt(keys, r.Data) is { } answer)
            {
                if (answer.Frames.OfType<ConnectionCloseFrame>().FirstOrDefault() is { } close)
                    throw new StreamSendException($"receiver closed the connection: {close.Code} {close.Message}", progress);
                return;
            }
            // A temporary reject (a peer still reconnecting after our restart, say) is retried as money packets are.
            if (reply is not IlpReject { Code: var code } || !MayRetry(code, ref retries))
                throw new StreamSendException($"receiver did not answer as a STREAM server: {Describe(reply as IlpReject, keys)}", progress);
            await BackOffAsync(retries, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Temporary rejects (T.., R..) are retried, up to <see cref="StreamSenderLimits.MaxRetries"/> in a row; F.. never.</summary>
    private bool MayRetry(string code, ref int retries) => !code.StartsWith('F') && ++retries <= _limits.MaxRetries;

    private Task BackOffAsync(int retries, CancellationToken ct) =>
        Task.Delay(TimeSpan.FromMilliseconds(Math.Min(2000, 100 << Math.Min(retries, 5))), time, ct);

    private async Task CloseAsync(string destination, Keys keys, ulong sequence, CancellationToken ct)
    {
        var request = new StreamPacket(IlpPacketType.Prepare, sequence, 0,
            [new StreamCloseFrame(StreamId, StreamErrorCode.NoError, ""), new ConnectionCloseFrame(StreamErrorCode.NoError, "")]);
        var (prepare, _) = Build(destination, keys, request, 0, unfulfillable: true);
        try
        {
            await send(prepare, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Best effort: the money is already paid and recorded.
        }
    }

    private (IlpPrepare Prepare, byte[] Fulfillment) Build(string destination, Keys keys, StreamPacket request, ulong amount, bool unfulfillable = false)
    {
        byte[] data = StreamCrypto.Encrypt(keys.Encryption, StreamCodec.Encode(request));
        byte[] fulfillment = unfulfillable ? RandomNumberGenerator.GetBytes(32) : StreamCrypto.Fulfillment(keys.Fulfillment, data);
        var prepare = new IlpPrepare
        {
            Amount = amount,
            Destination = destination,
            ExecutionCondition = StreamCrypto.Condition(fulfillment),
            ExpiresAt = TruncateToMillis(time.GetUtcNow() + _limits.PacketExpiry),
            Data = data,
        };
        return (prepare, fulfillment);
    }

    private static DateTimeOffset TruncateToMillis(DateTimeOffset t) => DateTimeOffset.FromUnixTimeMilliseconds(t.ToUnixTimeMilliseconds());

    private static StreamPacket? Decrypt(Keys keys, ReadOnlyMemory<byte> data) =>
        StreamCrypto.TryDecrypt(keys.Encryption, data.Span, out byte[] plain) && StreamCodec.TryDecode(plain, out var packet, out _) ? packet : null;

    private static string Describe(IlpReject? reject, Keys keys)
    {
        if (reject is null) return "no reject";
        string text = $"{reject.Code} {reject.Message}".Trim() + (reject.TriggeredBy.Length > 0 ? $" (from {reject.TriggeredBy})" : "");
        if (Decrypt(keys, reject.Data) is { } answer)
        {
            var close = answer.Frames.Select(f => f switch
            {
                ConnectionCloseFrame c => $"connection closed: {c.Code} {c.Message}",
                StreamCloseFrame s => $"stream closed: {s.Code} {s.Message}",
                StreamMoneyLimitFrame { Kind: StreamFrameType.StreamMaxMoney } m => $"receive max {m.Max}, received {m.Total}",
                _ => null,
            }).FirstOrDefault(s => s is not null);
            if (close is not null) text += $": {close}";
        }
        return text;
    }

    private sealed class Keys(byte[] sharedSecret)
    {
        public byte[] Encryption { get; } = StreamCrypto.EncryptionKey(sharedSecret);
        public byte[] Fulfillment { get; } = StreamCrypto.FulfillmentKey(sharedSecret);
    }
}
