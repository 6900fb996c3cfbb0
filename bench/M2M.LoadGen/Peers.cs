using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using M2M.Btp;
using M2M.Core.Ilp;

namespace M2M.LoadGen;

/// <summary>
/// Conditions the sender and the receiver agree on without sharing state per packet: the
/// fulfillment of packet n is SHA-256(run key ‖ n), and n travels in the first 8 data bytes.
/// One hash, not an HMAC (two): the load generator shares the cores with what it measures.
/// </summary>
public sealed class PacketKeys
{
    private const int KeyBytes = 32;
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(KeyBytes);

    public void Fulfillment(ulong sequence, Span<byte> fulfillment)
    {
        Span<byte> input = stackalloc byte[KeyBytes + sizeof(ulong)];
        _key.CopyTo(input);
        BinaryPrimitives.WriteUInt64BigEndian(input[KeyBytes..], sequence);
        SHA256.HashData(input, fulfillment);
    }
}

/// <summary>The receiving peer: fulfills every Prepare with the fulfillment of its sequence number.</summary>
public sealed class FulfillingReceiver(PacketKeys keys, string ilpAddress) : IBtpMessageHandler
{
    private long _fulfilled;
    private long _refused;

    public long Fulfilled => Interlocked.Read(ref _fulfilled);
    public long Refused => Interlocked.Read(ref _refused);

    public ValueTask<ReadOnlyMemory<byte>> HandleIlpAsync(BtpSession session, ReadOnlyMemory<byte> ilpPacket, CancellationToken ct)
    {
        // The zero-allocation view: the receiver shares the cores with the connector it measures.
        if (IlpCodec.TryReadPrepare(ilpPacket, out var prepare, out string? error) != OperationStatus.Done)
            return Refuse(IlpErrorCode.F01_InvalidPacket, error ?? "expected a Prepare");
        if (prepare.Data.Length < sizeof(ulong)) return Refuse(IlpErrorCode.F06_UnexpectedPayment, "data carries no sequence number");
        // Fulfill = type 13, length 33, fulfillment (32 bytes), empty data: written in place, one array per reply.
        byte[] reply = new byte[FulfillLength];
        reply[0] = (byte)IlpPacketType.Fulfill;
        reply[1] = IlpCodec.HashLength + 1;
        var fulfillment = reply.AsSpan(2, IlpCodec.HashLength);
        // Not checked against the condition here (a second hash per packet): the connector checks the
        // fulfillment (ILP), and a wrong one comes back to the sender as an F05 reject, which it counts.
        keys.Fulfillment(BinaryPrimitives.ReadUInt64BigEndian(prepare.Data.Span), fulfillment);
        Interlocked.Increment(ref _fulfilled);
        return ValueTask.FromResult<ReadOnlyMemory<byte>>(reply);
    }

    private const int FulfillLength = 2 + IlpCodec.HashLength + 1;

    private ValueTask<ReadOnlyMemory<byte>> Refuse(string code, string message)
    {
        Interlocked.Increment(ref _refused);
        return ValueTask.FromResult<ReadOnlyMemory<byte>>(IlpEncoder.ToArray(IlpRejects.Create(code, ilpAddress, message)));
    }
}

/// <summary>The sending peer expects no Prepares; anything arriving is refused.</summary>
public sealed class RefusingHandler(string ilpAddress) : IBtpMessageHandler
{
    public ValueTask<ReadOnlyMemory<byte>> HandleIlpAsync(BtpSession session, ReadOnlyMemory<byte> ilpPacket, CancellationToken ct) =>
        ValueTask.FromResult<ReadOnlyMemory<byte>>(IlpEncoder.ToArray(IlpRejects.Create(IlpErrorCode.F02_Unreachable, ilpAddress, "the load sender accepts no packets")));
}
