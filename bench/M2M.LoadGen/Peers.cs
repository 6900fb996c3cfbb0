using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using M2M.Btp;
using M2M.Core.Ilp;

namespace M2M.LoadGen;

/// <summary>
/// Conditions the sender and the receiver agree on without sharing state per packet: the
/// fulfillment of packet n is SHA-256(run key ‖ n), and n travels in the first 8 data bytes.
/// The first <c>precompute</c> packets' conditions and Fulfill packets are computed before the run
/// (two hashes each), so during it the sender copies 32 bytes and the receiver returns a slice: the load
/// generator shares the cores with what it measures. Later sequence numbers are hashed per packet.
/// </summary>
public sealed class PacketKeys
{
    private const int KeyBytes = 32;

    /// <summary>Fulfill = type 13, length 33, fulfillment (32 bytes), empty data.</summary>
    public const int FulfillLength = 2 + IlpCodec.HashLength + 1;

    /// <summary>Table bound: 1,000,000 packets hold 67 MB.</summary>
    public const long MaxPrecomputed = 1_000_000;

    private readonly byte[] _key = RandomNumberGenerator.GetBytes(KeyBytes);
    private readonly byte[] _fulfills;
    private readonly byte[] _conditions;
    private readonly long _precomputed;

    /// <param name="precompute">How many sequence numbers (1, 2, …) to prepare before the run.</param>
    public PacketKeys(long precompute = 0)
    {
        _precomputed = Math.Clamp(precompute, 0, MaxPrecomputed);
        _fulfills = new byte[_precomputed * FulfillLength];
        _conditions = new byte[_precomputed * IlpCodec.HashLength];
        for (long i = 0; i < _precomputed; i++)
        {
            var fulfill = _fulfills.AsSpan((int)(i * FulfillLength), FulfillLength);
            WriteFulfill((ulong)i + 1, fulfill);
            SHA256.HashData(fulfill.Slice(2, IlpCodec.HashLength), _conditions.AsSpan((int)(i * IlpCodec.HashLength), IlpCodec.HashLength));
        }
    }

    /// <summary>The condition of packet <paramref name="sequence"/>: sha256(fulfillment).</summary>
    public void Condition(ulong sequence, Span<byte> condition)
    {
        if (IsPrecomputed(sequence))
        {
            _conditions.AsSpan((int)((long)(sequence - 1) * IlpCodec.HashLength), IlpCodec.HashLength).CopyTo(condition);
            return;
        }
        Span<byte> fulfillment = stackalloc byte[IlpCodec.HashLength];
        Fulfillment(sequence, fulfillment);
        SHA256.HashData(fulfillment, condition);
    }

    /// <summary>The Fulfill packet of <paramref name="sequence"/>, encoded (a slice of the table: never written to).</summary>
    public ReadOnlyMemory<byte> FulfillPacket(ulong sequence)
    {
        if (IsPrecomputed(sequence)) return _fulfills.AsMemory((int)((long)(sequence - 1) * FulfillLength), FulfillLength);
        byte[] packet = new byte[FulfillLength];
        WriteFulfill(sequence, packet);
        return packet;
    }

    private bool IsPrecomputed(ulong sequence) => sequence >= 1 && sequence <= (ulong)_precomputed;

    private void WriteFulfill(ulong sequence, Span<byte> packet)
    {
        packet[0] = (byte)IlpPacketType.Fulfill;
        packet[1] = IlpCodec.HashLength + 1;
        Fulfillment(sequence, packet.Slice(2, IlpCodec.HashLength));
        packet[^1] = 0; // empty data
    }

    private void Fulfillment(ulong sequence, Span<byte> fulfillment)
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
        // Not checked against the condition here (a hash per packet): the connector checks the
        // fulfillment (ILP), and a wrong one comes back to the sender as an F05 reject, which it counts.
        var reply = keys.FulfillPacket(BinaryPrimitives.ReadUInt64BigEndian(prepare.Data.Span));
        Interlocked.Increment(ref _fulfilled);
        return ValueTask.FromResult(reply);
    }

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
