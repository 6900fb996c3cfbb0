using System.Buffers;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using M2M.Core.Ilp;
using M2M.Core.Oer;

namespace M2M.Core.Stream;

/// <summary>Limits of the STREAM receiver, with the reason for each default.</summary>
public sealed record StreamReceiverLimits
{
    /// <summary>Highest stream id a sender may open: 2 × 10 streams, ilp-protocol-stream's default (maxRemoteStreams 10).</summary>
    public ulong MaxStreamId { get; init; } = 20;

    /// <summary>Live connections kept in memory; the idle ones are dropped first (each is a few hundred bytes).</summary>
    public int MaxConnections { get; init; } = 10_000;

    /// <summary>A connection unused this long is forgotten (its money is in the ledger; only stream totals are lost).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Longest connection tag accepted in a generated address (tags travel in every packet's address).</summary>
    public int MaxTagLength { get; init; } = 64;
}

/// <summary>
/// STREAM receipts (RFC 39), as ilp-protocol-stream writes them: version (UInt8 = 1) ‖ nonce (16) ‖
/// stream id (UInt8) ‖ total received (UInt64 BE) ‖ HMAC-SHA256(secret, the 26 bytes before). The
/// nonce and secret come from the receipt verifier (SPSP headers Receipt-Nonce / Receipt-Secret).
/// </summary>
public sealed record ReceiptKeys(byte[] Nonce, byte[] Secret)
{
    public const int NonceLength = 16;
    public const int SecretLength = 32;
    public const int ReceiptLength = 58;

    public byte[] Create(ulong streamId, ulong totalReceived)
    {
        var receipt = new byte[ReceiptLength];
        receipt[0] = 1;
        Nonce.CopyTo(receipt, 1);
        receipt[17] = checked((byte)streamId);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(receipt.AsSpan(18), totalReceived);
        System.Security.Cryptography.HMACSHA256.HashData(Secret, receipt.AsSpan(0, 26), receipt.AsSpan(26));
        return receipt;
    }
}

/// <summary>Money one STREAM packet brought to a hosted account (after it was posted to the ledger).</summary>
public sealed record StreamIncoming(string AccountId, ulong Amount, string ConnectionId, string? ConnectionTag, ulong ConnectionTotal,
    IReadOnlyList<(ulong StreamId, ulong TotalReceived)> Streams);

/// <summary>
/// The receiving side of STREAM (RFC 29) for hosted accounts: generates a destination address and
/// shared secret per connection, and answers each Prepare: F02 for an unknown connection token,
/// F06 for data that does not decrypt, F99 with an encrypted STREAM reply for what the protocol
/// refuses (probes with an unfulfillable condition, too small an amount, a closed or excess
/// stream), and otherwise posts the money through <c>credit</c> and fulfills with an encrypted reply.
/// <para>
/// Connection token (an address segment, base64url): AES-256-GCM under the server secret of
/// nonce (18 random bytes) ‖ VarOctetString(account id) ‖ VarOctetString(connection tag), so the
/// token names its account and tag and nothing needs to be stored per connection before it is used.
/// </para>
/// </summary>
public sealed class StreamReceiver(byte[] serverSecret, TimeProvider time, StreamReceiverLimits? limits = null)
{
    public const int TokenNonceLength = 18;

    private readonly StreamReceiverLimits _limits = limits ?? new StreamReceiverLimits();
    private readonly ConcurrentDictionary<string, Connection> _connections = new(StringComparer.Ordinal);

    public int ConnectionCount => _connections.Count;

    /// <summary>A fresh (destination address, shared secret) for <paramref name="accountAddress"/> = our address + "." + account id.</summary>
    public (string Destination, byte[] SharedSecret) GenerateAddressAndSecret(string accountAddress, string accountId, string? tag = null,
        ReceiptKeys? receipts = null)
    {
        if (tag is not null && (tag.Length > _limits.MaxTagLength || !tag.All(IsTagChar)))
            throw new ArgumentException($"connection tag must be at most {_limits.MaxTagLength} characters of A-Z a-z 0-9 _ ~ -", nameof(tag));
        var plain = new ArrayBufferWriter<byte>(64);
        RandomNumberGenerator.Fill(plain.GetSpan(TokenNonceLength)[..TokenNonceLength]);
        plain.Advance(TokenNonceLength);
        Oer.Oer.WriteVarOctetString(plain, System.Text.Encoding.UTF8.GetBytes(accountId));
        Oer.Oer.WriteVarOctetString(plain, System.Text.Encoding.ASCII.GetBytes(tag ?? ""));
        if (receipts is not null)
        {
            Oer.Oer.WriteVarOctetString(plain, receipts.Nonce);
            Oer.Oer.WriteVarOctetString(plain, receipts.Secret);
        }
        byte[] token = StreamCrypto.Encrypt(serverSecret, plain.WrittenSpan);
        return ($"{accountAddress}.{StreamCrypto.Base64Url(token)}", StreamCrypto.SharedSecretFromToken(serverSecret, token));
    }

    private static bool IsTagChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '~' or '-';

    /// <summary>
    /// Handles one Prepare for <paramref name="accountId"/>; <paramref name="connectionSegment"/> is the address
    /// segment after the account. <paramref name="credit"/> posts the amount durably and returns null, or a Reject
    /// (T04, T00) that is returned as it is. <paramref name="received"/> is called after a successful credit.
    /// </summary>
    public async ValueTask<IlpReply> HandleAsync(IlpPrepare prepare, string accountId, string connectionSegment, string triggeredBy,
        (string Code, byte Scale) asset, Func<ulong, ValueTask<IlpReject?>> credit, Action<StreamIncoming>? received, CancellationToken ct)
    {
        if (!TryOpenToken(connectionSegment, accountId, out byte[] token, out string? tag, out var receipts))
            return Reject(IlpErrorCode.F02_Unreachable, triggeredBy, "unknown STREAM connection");
        byte[] sharedSecret = StreamCrypto.SharedSecretFromToken(serverSecret, token);
        byte[] key = StreamCrypto.EncryptionKey(sharedSecret);
        if (!StreamCrypto.TryDecrypt(key, prepare.Data.Span, out byte[] plain) || !StreamCodec.TryDecode(plain, out var request, out _)
            || request!.IlpPacketType != IlpPacketType.Prepare)
            return Reject(IlpErrorCode.F06_UnexpectedPayment, triggeredBy, "");

        var connection = Connect(connectionSegment, tag, receipts);
        await connection.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            connection.LastUsed = time.GetTimestamp();
            return await HandleLockedAsync(prepare, request, connection, sharedSecret, key, triggeredBy, asset, accountId, credit, received).ConfigureAwait(false);
        }
        finally
        {
            connection.Gate.Release();
        }
    }

    private async ValueTask<IlpReply> HandleLockedAsync(IlpPrepare prepare, StreamPacket request, Connection c, byte[] sharedSecret, byte[] key,
        string triggeredBy, (string Code, byte Scale) asset, string accountId, Func<ulong, ValueTask<IlpReject?>> credit, Action<StreamIncoming>? received)
    {
        var frames = new List<StreamFrame> { new ConnectionLimitFrame(StreamFrameType.ConnectionMaxData, 0) };
        IlpReply Refuse() => FinalError(request, prepare, key, frames, c, triggeredBy);
        bool wasClosed = c.Closed;

        if (!OpenStreams(request, c, frames)) return Refuse();
        ApplyControlFrames(request, c, asset);
        if (wasClosed && prepare.Amount > 0)
        {
            frames.Add(new ConnectionCloseFrame(StreamErrorCode.NoError, "connection is closed"));
            return Refuse();
        }
        if (request.PrepareAmount > prepare.Amount) return Refuse();
        byte[] fulfillment = StreamCrypto.Fulfillment(StreamCrypto.FulfillmentKey(sharedSecret), prepare.Data.Span);
        if (!CryptographicOperations.FixedTimeEquals(StreamCrypto.Condition(fulfillment), prepare.ExecutionCondition.Span)) return Refuse();

        var shares = Split(request, prepare.Amount);
        foreach (var (id, _) in shares)
        {
            if (c.Streams[id].Closed)
            {
                frames.Add(new StreamCloseFrame(id, StreamErrorCode.StreamStateError, "Stream is already closed"));
                return Refuse();
            }
        }
        if (prepare.Amount > 0)
        {
            if (await credit(prepare.Amount).ConfigureAwait(false) is { } refused) return refused;
            c.Total = checked(c.Total + prepare.Amount);
            foreach (var (id, amount) in shares) c.Streams[id].Received = checked(c.Streams[id].Received + amount);
            received?.Invoke(new StreamIncoming(accountId, prepare.Amount, c.Id, c.Tag, c.Total,
                shares.Select(s => (s.StreamId, c.Streams[s.StreamId].Received)).ToList()));
        }
        AppendStreamState(c, frames);
        if (c.Receipts is { } keys && prepare.Amount > 0)
        {
            foreach (var id in shares.Select(s => s.StreamId).Distinct())
                frames.Add(new StreamReceiptFrame(id, keys.Create(id, c.Streams[id].Received)));
        }
        frames.AddRange(c.Queued);
        c.Queued.Clear();
        var reply = new StreamPacket(IlpPacketType.Fulfill, request.Sequence, prepare.Amount, frames);
        return new IlpFulfill { Fulfillment = fulfillment, Data = StreamCrypto.Encrypt(key, StreamCodec.Encode(reply)) };
    }

    /// <summary>Registers streams named by money/data frames; false (with the frames to send) when one is not allowed.</summary>
    private bool OpenStreams(StreamPacket request, Connection c, List<StreamFrame> frames)
    {
        foreach (var frame in request.Frames)
        {
            ulong id = frame switch
            {
                StreamMoneyFrame f => f.StreamId,
                StreamDataFrame f => f.StreamId,
                StreamMoneyLimitFrame { Kind: StreamFrameType.StreamMaxMoney } f => f.StreamId,
                StreamDataLimitFrame { Kind: StreamFrameType.StreamMaxData } f => f.StreamId,
                _ => 0,
            };
            if (id == 0 || c.Streams.ContainsKey(id)) continue;
            if (id % 2 == 0)
            {
                c.Queued.Add(new ConnectionCloseFrame(StreamErrorCode.ProtocolViolation, $"Invalid Stream ID: {id}. Client-initiated streams must have odd-numbered IDs"));
                return false;
            }
            if (id > _limits.MaxStreamId)
            {
                c.Queued.Add(new ConnectionCloseFrame(StreamErrorCode.StreamIdError, $"Maximum number of open streams exceeded. Got stream: {id}, current max stream ID: {_limits.MaxStreamId}"));
                return false;
            }
            c.Streams[id] = new StreamState();
        }
        return true;
    }

    private void ApplyControlFrames(StreamPacket request, Connection c, (string Code, byte Scale) asset)
    {
        foreach (var frame in request.Frames)
        {
            switch (frame)
            {
                case ConnectionNewAddressFrame:
                    c.Queued.Add(new ConnectionLimitFrame(StreamFrameType.ConnectionMaxStreamId, _limits.MaxStreamId));
                    c.Queued.Add(new ConnectionAssetDetailsFrame(asset.Code, asset.Scale));
                    break;
                case ConnectionCloseFrame:
                    c.Closed = true;
                    break;
                case StreamCloseFrame f when c.Streams.TryGetValue(f.StreamId, out var s):
                    s.Closed = true;
                    s.RemoteClosed = true;
                    break;
            }
        }
    }

    /// <summary>Each stream's part of the amount: amount × shares / total shares, rounded down (as ilp-protocol-stream).</summary>
    private static List<(ulong StreamId, ulong Amount)> Split(StreamPacket request, ulong amount)
    {
        var money = request.Frames.OfType<StreamMoneyFrame>().ToList();
        UInt128 total = 0;
        foreach (var f in money) total += f.Shares;
        var list = new List<(ulong, ulong)>(money.Count);
        foreach (var f in money) list.Add((f.StreamId, total == 0 ? 0 : (ulong)((UInt128)amount * f.Shares / total)));
        return list;
    }

    private static void AppendStreamState(Connection c, List<StreamFrame> frames)
    {
        if (c.Closed) return;
        foreach (var (id, s) in c.Streams)
        {
            if (s.Closed)
            {
                if (!s.RemoteClosed) frames.Add(new StreamCloseFrame(id, StreamErrorCode.NoError, ""));
                s.RemoteClosed = true;
                continue;
            }
            frames.Add(new StreamMoneyLimitFrame(StreamFrameType.StreamMaxMoney, id, ulong.MaxValue, s.Received));
        }
    }

    private static IlpReject FinalError(StreamPacket request, IlpPrepare prepare, byte[] key, List<StreamFrame> frames, Connection c, string triggeredBy)
    {
        frames.AddRange(c.Queued);
        c.Queued.Clear();
        var reply = new StreamPacket(IlpPacketType.Reject, request.Sequence, prepare.Amount, frames);
        return new IlpReject { Code = IlpErrorCode.F99_ApplicationError, TriggeredBy = triggeredBy, Message = "", Data = StreamCrypto.Encrypt(key, StreamCodec.Encode(reply)) };
    }

    private bool TryOpenToken(string segment, string accountId, out byte[] token, out string? tag, out ReceiptKeys? receipts)
    {
        tag = null;
        receipts = null;
        if (!StreamCrypto.TryFromBase64Url(segment, out token) || !StreamCrypto.TryDecrypt(serverSecret, token, out byte[] plain)) return false;
        if (plain.Length < TokenNonceLength) return false;
        var rest = plain.AsSpan(TokenNonceLength);
        if (Oer.Oer.TryReadVarOctetString(rest, 1024, out Range a, out int used) != OperationStatus.Done) return false;
        if (!System.Text.Encoding.UTF8.GetString(rest[a]).Equals(accountId, StringComparison.Ordinal)) return false;
        rest = rest[used..];
        if (Oer.Oer.TryReadVarOctetString(rest, _limits.MaxTagLength, out Range t, out used) != OperationStatus.Done) return false;
        tag = t.GetOffsetAndLength(rest.Length).Length == 0 ? null : System.Text.Encoding.ASCII.GetString(rest[t]);
        rest = rest[used..];
        if (rest.IsEmpty) return true;
        if (Oer.Oer.TryReadVarOctetString(rest, ReceiptKeys.NonceLength, out Range n, out used) != OperationStatus.Done) return false;
        if (Oer.Oer.TryReadVarOctetString(rest[used..], ReceiptKeys.SecretLength, out Range k, out _) != OperationStatus.Done) return false;
        receipts = new ReceiptKeys(rest[n].ToArray(), rest[used..][k].ToArray());
        return receipts.Nonce.Length == ReceiptKeys.NonceLength && receipts.Secret.Length == ReceiptKeys.SecretLength;
    }

    private Connection Connect(string id, string? tag, ReceiptKeys? receipts)
    {
        if (_connections.TryGetValue(id, out var existing)) return existing;
        if (_connections.Count >= _limits.MaxConnections) EvictIdle();
        return _connections.GetOrAdd(id, _ => new Connection(id, tag) { Receipts = receipts });
    }

    /// <summary>Drops idle connections; if none is idle, the least recently used tenth.</summary>
    private void EvictIdle()
    {
        var idle = _connections.Values.Where(c => time.GetElapsedTime(c.LastUsed) > _limits.IdleTimeout).ToList();
        if (idle.Count == 0) idle = _connections.Values.OrderBy(c => c.LastUsed).Take(Math.Max(1, _limits.MaxConnections / 10)).ToList();
        foreach (var c in idle) _connections.TryRemove(c.Id, out _);
    }

    private static IlpReject Reject(string code, string triggeredBy, string message) => IlpRejects.Create(code, triggeredBy, message);

    private sealed class Connection(string id, string? tag)
    {
        public string Id { get; } = id;
        public string? Tag { get; } = tag;
        public SemaphoreSlim Gate { get; } = new(1, 1);
        public Dictionary<ulong, StreamState> Streams { get; } = [];
        public List<StreamFrame> Queued { get; } = [];
        public bool Closed { get; set; }
        public ulong Total { get; set; }
        public long LastUsed { get; set; }
        public ReceiptKeys? Receipts { get; init; }
    }

    private sealed class StreamState
    {
        public ulong Received { get; set; }
        public bool Closed { get; set; }
        public bool RemoteClosed { get; set; }
    }
}
