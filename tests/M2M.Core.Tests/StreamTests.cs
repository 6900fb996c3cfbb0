using System.Text.Json;
using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Core.Stream;
using M2M.Core.Switch;

namespace M2M.Core.Tests;

/// <summary>STREAM (RFC 29): byte vectors from ilp-protocol-stream 2.7.1 (tests/interop/gen-stream-vectors.js), and the receiver and sender against each other.</summary>
[Trait("Tier", "unit")]
public class StreamTests
{
    private static readonly JsonElement V = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "stream-vectors.json"))).RootElement;

    private static byte[] Hex(string name) => Convert.FromHexString(V.GetProperty(name).GetString()!);

    [Fact]
    public void Key_derivation_and_fulfillment_match_ilp_protocol_stream()
    {
        byte[] shared = StreamCrypto.SharedSecretFromToken(Hex("seed"), Hex("token"));
        Assert.Equal(Hex("sharedSecret"), shared);
        Assert.Equal(Hex("encryptionKey"), StreamCrypto.EncryptionKey(shared));
        Assert.Equal(Hex("fulfillmentKey"), StreamCrypto.FulfillmentKey(shared));
        byte[] fulfillment = StreamCrypto.Fulfillment(StreamCrypto.FulfillmentKey(shared), Hex("prepareData"));
        Assert.Equal(Hex("fulfillment"), fulfillment);
        Assert.Equal(Hex("condition"), StreamCrypto.Condition(fulfillment));
    }

    [Fact]
    public void Packet_with_every_frame_type_decodes_and_reencodes_byte_for_byte()
    {
        Assert.True(StreamCodec.TryDecode(Hex("packet"), out var packet, out string? error), error);
        Assert.Equal(IlpPacketType.Prepare, packet!.IlpPacketType);
        Assert.Equal(ulong.MaxValue, packet.Sequence);
        Assert.Equal(1_000_000UL, packet.PrepareAmount);
        Assert.Equal(V.GetProperty("frameCount").GetInt32(), packet.Frames.Count);
        Assert.Equal(new ConnectionCloseFrame(StreamErrorCode.ApplicationError, "bye"), packet.Frames[0]);
        Assert.Equal(new ConnectionAssetDetailsFrame("USD", 9), packet.Frames[2]);
        Assert.Equal(new StreamMoneyFrame(3, 2), packet.Frames[6]);
        Assert.Equal(new StreamMoneyLimitFrame(StreamFrameType.StreamMaxMoney, 1, ulong.MaxValue, 123456789012), packet.Frames[7]);
        Assert.Equal(Hex("packet"), StreamCodec.Encode(packet));
    }

    [Fact]
    public void Data_encrypted_by_ilp_protocol_stream_decrypts_and_one_flipped_bit_does_not()
    {
        byte[] key = Hex("encryptionKey");
        byte[] encrypted = Hex("packetEncrypted");
        Assert.True(StreamCrypto.TryDecrypt(key, encrypted, out byte[] plain));
        Assert.Equal(Hex("packet"), plain);
        encrypted[^1] ^= 1;
        Assert.False(StreamCrypto.TryDecrypt(key, encrypted, out _));
        Assert.False(StreamCrypto.TryDecrypt(key, encrypted.AsSpan(0, 27), out _));
    }

    [Fact]
    public void Receipt_matches_ilp_protocol_stream_createReceipt()
    {
        var keys = new ReceiptKeys(Hex("receiptNonce"), Hex("receiptSecret"));
        Assert.Equal(Hex("receipt"), keys.Create(1, 12_345));
    }

    [Fact]
    public async Task Receiver_issues_a_receipt_with_the_stream_total_when_the_address_asked_for_receipts()
    {
        var node = new Node(aliceLimit: null);
        var keys = new ReceiptKeys(Hex("receiptNonce"), Hex("receiptSecret"));
        var (destination, secret) = node.Receiver.GenerateAddressAndSecret("test.node.agent1", "agent1", null, keys);

        await node.Send(Prepare(destination, secret, 5_000, 1), default);
        var fulfill = Assert.IsType<IlpFulfill>(await node.Send(Prepare(destination, secret, 7_345, 1), default));

        Assert.True(StreamCrypto.TryDecrypt(StreamCrypto.EncryptionKey(secret), fulfill.Data.Span, out byte[] plain));
        Assert.True(StreamCodec.TryDecode(plain, out var reply, out _));
        var receipt = Assert.Single(reply!.Frames.OfType<StreamReceiptFrame>());
        Assert.Equal(Hex("receipt"), receipt.Receipt.ToArray());
    }

    [Fact]
    public void Truncated_or_malformed_packets_are_refused_without_throwing()
    {
        byte[] packet = Hex("packet");
        for (int n = 0; n < packet.Length; n++)
        {
            Assert.False(StreamCodec.TryDecode(packet.AsMemory(0, n), out _, out string? error), $"a {n}-byte prefix decoded");
            Assert.NotNull(error);
        }
        var random = new Random(17);
        for (int i = 0; i < 2000; i++)
        {
            var junk = new byte[random.Next(0, 64)];
            random.NextBytes(junk);
            if (junk.Length > 0) junk[0] = 1;
            StreamCodec.TryDecode(junk, out _, out _);
        }
    }

    private sealed class Directory(params HostedAccountInfo[] accounts) : IHostedAccountDirectory
    {
        public bool TryGet(string accountId, out HostedAccountInfo? account)
        {
            account = accounts.FirstOrDefault(a => a.Id == accountId);
            return account is not null;
        }
    }

    private sealed class Node
    {
        public readonly MemoryLedger Ledger = new();
        public readonly StreamReceiver Receiver = new(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32), TimeProvider.System);
        public readonly List<StreamIncoming> Received = [];
        public readonly SwitchOptions Options = new() { IlpAddress = "test.node" };
        public readonly LocalDeliveryStep Step;
        public readonly PeerDescriptor Alice = new("alice", PeerRelation.Child, "USD", 9, null);

        public Node(ulong? aliceLimit)
        {
            Step = new LocalDeliveryStep(Options, new Directory(new HostedAccountInfo("agent1", "USD", 9)), Receiver, Ledger, Received.Add);
            Ledger.CreateAccountsAsync([PeerAccounts.PeerAccount("alice", "USD", 9, aliceLimit), PeerAccounts.ClearingAccount("USD", 9),
                PeerAccounts.HostedAccount("agent1", "USD", 9)]).AsTask().GetAwaiter().GetResult();
        }

        public ValueTask<IlpReply> Send(IlpPrepare prepare, CancellationToken ct) =>
            Step.InvokeAsync(new PacketContext(prepare, Alice, DateTimeOffset.UtcNow, ct), _ => ValueTask.FromResult<IlpReply>(IlpRejects.Create("F02", "", "routed")));

        public async Task<Int128> Balance(UInt128 id) => (await Ledger.LookupAccountAsync(id))!.PostedBalance;
    }

    private static ValueTask Nothing(ulong _) => ValueTask.CompletedTask;

    private static ValueTask Nothing(StreamProgress _) => ValueTask.CompletedTask;

    [Fact]
    public async Task Sender_and_receiver_move_the_exact_amount_and_post_it_before_the_fulfill()
    {
        var node = new Node(aliceLimit: null);
        var (destination, secret) = node.Receiver.GenerateAddressAndSecret("test.node.agent1", "agent1", "order-7");
        var sender = new StreamSender(node.Send, TimeProvider.System);

        var result = await sender.SendAsync(destination, secret, "test.alice", ("USD", 9), 12_345, Nothing, Nothing, CancellationToken.None);

        Assert.Equal(new StreamProgress(12_345, 12_345, 1), result);
        Assert.Equal(12_345, await node.Balance(PeerAccounts.HostedAccount("agent1", "USD", 9).Id));
        Assert.Equal(-12_345, await node.Balance(PeerAccounts.PeerAccountId("alice", PeerAccounts.LedgerFor("USD", 9))));
        var incoming = Assert.Single(node.Received);
        Assert.Equal(("agent1", 12_345UL, "order-7"), (incoming.AccountId, incoming.Amount, incoming.ConnectionTag));
    }

    /// <summary>A resumed payment can start while the next hop is still reconnecting: the handshake's T01s are retried.</summary>
    [Fact]
    public async Task Handshake_retries_temporary_rejects_and_gives_up_after_the_limit()
    {
        var node = new Node(aliceLimit: null);
        var (destination, secret) = node.Receiver.GenerateAddressAndSecret("test.node.agent1", "agent1");
        int unreachable = 2, calls = 0;
        ValueTask<IlpReply> Flaky(IlpPrepare prepare, CancellationToken ct) =>
            ++calls <= unreachable ? ValueTask.FromResult<IlpReply>(IlpRejects.Create("T01", "test.node", "peer not connected")) : node.Send(prepare, ct);
        var sender = new StreamSender(Flaky, TimeProvider.System);

        var result = await sender.SendAsync(destination, secret, "test.alice", ("USD", 9), 500, Nothing, Nothing, CancellationToken.None);

        Assert.Equal(500UL, result.Sent);
        Assert.Equal(500, await node.Balance(PeerAccounts.HostedAccount("agent1", "USD", 9).Id));
        (unreachable, calls) = (int.MaxValue, 0);
        var limited = new StreamSender(Flaky, TimeProvider.System, new StreamSenderLimits { MaxRetries = 1 });
        var e = await Assert.ThrowsAsync<StreamSendException>(() => limited.SendAsync(destination, secret, "test.alice", ("USD", 9), 500, Nothing, Nothing, CancellationToken.None));
        Assert.Contains("T01", e.Message);
        Assert.Equal(2, calls);
        Assert.Equal(0UL, e.Progress.Sent);
    }

    [Fact]
    public async Task Source_past_its_credit_limit_gets_T04_and_nothing_is_credited()
    {
        var node = new Node(aliceLimit: 1_000);
        var (destination, secret) = node.Receiver.GenerateAddressAndSecret("test.node.agent1", "agent1");
        var sender = new StreamSender(node.Send, TimeProvider.System, new StreamSenderLimits { MaxRetries = 0 });

        var e = await Assert.ThrowsAsync<StreamSendException>(() => sender.SendAsync(destination, secret, "test.alice", ("USD", 9), 1_001, Nothing, Nothing, CancellationToken.None));

        Assert.Contains("T04", e.Message);
        Assert.Equal(0UL, e.Progress.Sent);
        Assert.Equal(0, await node.Balance(PeerAccounts.HostedAccount("agent1", "USD", 9).Id));
        Assert.Empty(node.Received);
    }

    [Fact]
    public async Task Unknown_token_is_F02_wrong_key_is_F06_and_an_even_or_excess_stream_id_is_F99()
    {
        var node = new Node(aliceLimit: null);
        var (destination, secret) = node.Receiver.GenerateAddressAndSecret("test.node.agent1", "agent1");
        var other = node.Receiver.GenerateAddressAndSecret("test.node.agent2", "agent2");

        Assert.Equal("F02", ((IlpReject)await node.Send(Prepare("test.node.agent1.bm90LWEtdG9rZW4", secret, 10, 1), default)).Code);
        Assert.Equal("F02", ((IlpReject)await node.Send(Prepare("test.node.agent1." + other.Destination.Split('.')[^1], secret, 10, 1), default)).Code);
        Assert.Equal("F06", ((IlpReject)await node.Send(Prepare(destination, new byte[32], 10, 1), default)).Code);
        var even = (IlpReject)await node.Send(Prepare(destination, secret, 10, 2), default);
        Assert.Equal("F99", even.Code);
        Assert.True(StreamCrypto.TryDecrypt(StreamCrypto.EncryptionKey(secret), even.Data.Span, out byte[] plain));
        Assert.True(StreamCodec.TryDecode(plain, out var reply, out _));
        Assert.Contains(reply!.Frames, f => f is ConnectionCloseFrame { Code: StreamErrorCode.ProtocolViolation });
        Assert.Equal("F99", ((IlpReject)await node.Send(Prepare(destination, secret, 10, 21), default)).Code);
        Assert.Equal(0, await node.Balance(PeerAccounts.HostedAccount("agent1", "USD", 9).Id));
    }

    /// <summary>A fulfillable money Prepare on <paramref name="streamId"/> (encrypted with <paramref name="secret"/>).</summary>
    private static IlpPrepare Prepare(string destination, byte[] secret, ulong amount, ulong streamId)
    {
        var packet = new StreamPacket(IlpPacketType.Prepare, 1, 0, [new StreamMoneyFrame(streamId, 1)]);
        byte[] data = StreamCrypto.Encrypt(StreamCrypto.EncryptionKey(secret), StreamCodec.Encode(packet));
        byte[] fulfillment = StreamCrypto.Fulfillment(StreamCrypto.FulfillmentKey(secret), data);
        return new IlpPrepare { Amount = amount, Destination = destination, ExecutionCondition = StreamCrypto.Condition(fulfillment), ExpiresAt = DateTimeOffset.UtcNow.AddSeconds(10), Data = data };
    }
}
