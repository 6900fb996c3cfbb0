using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using M2M.Btp;
using M2M.Core.Ilp;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.LoadGen;

/// <summary>
/// One bounded run: connect the receiver and the sender to the connector, send warmup packets,
/// then send the measured packets with <see cref="LoadOptions.Concurrency"/> in flight and record
/// each round trip (Prepare sent → Fulfill/Reject decoded).
/// </summary>
public sealed class LoadRun(LoadOptions options, TextWriter log)
{
    private const string SenderAddress = "g.loadgen.sender";
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(15);

    private readonly PacketKeys _keys = new();
    private long _sequence;

    public async Task<LoadReport> RunAsync()
    {
        using var cap = new CancellationTokenSource(TimeSpan.FromSeconds(options.DurationCapSeconds));
        var receiver = new FulfillingReceiver(_keys, options.Destination);
        await using var receiverClient = Client("receiver", options.ReceiverUrl, receiver);
        await using var senderClient = Client("sender", options.Connector, new RefusingHandler(SenderAddress));
        await ConnectAsync(receiverClient, "receiver", options.ReceiverUrl, cap.Token); // first: the route's next hop must be up
        var sender = await ConnectAsync(senderClient, "sender", options.Connector, cap.Token);

        if (options.Warmup > 0)
        {
            log.WriteLine($"warmup: {options.Warmup} packets");
            await SendAll(sender, new Recorder(options.Warmup), 0, cap.Token);
        }
        return await MeasureAsync(sender, cap);
    }

    private async Task<LoadReport> MeasureAsync(BtpSession sender, CancellationTokenSource cap)
    {
        string loadStart = ProcessProbe.LoadAverage();
        double? cpuStart = options.Pid is { } p ? ProcessProbe.CpuSeconds(p) : null;
        var recorder = new Recorder(options.Packets);
        using var duration = options.DurationSeconds > 0 ? new CancellationTokenSource(TimeSpan.FromSeconds(options.DurationSeconds)) : new CancellationTokenSource();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cap.Token, duration.Token);
        var sampler = new RssSampler(options.Pid, TimeSpan.FromSeconds(options.SampleSeconds), log);
        using var samplingDone = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
        var sampling = sampler.RunAsync(samplingDone.Token);
        log.WriteLine($"measuring: {options.Packets:N0} packets{(options.DurationSeconds > 0 ? $" or {options.DurationSeconds} s" : "")}, concurrency {options.Concurrency}{(options.Rate > 0 ? $", {options.Rate}/s" : "")}");
        var clock = Stopwatch.StartNew();
        // Workers stop taking new packets at the duration; in-flight ones finish unless the cap fires.
        await SendAll(sender, recorder, options.Rate, stop.Token, cap.Token);
        clock.Stop();
        await samplingDone.CancelAsync();
        await sampling;
        double? cpu = options.Pid is { } pid && ProcessProbe.CpuSeconds(pid) is { } end && cpuStart is { } start ? end - start : null;
        return recorder.Report(options, clock.Elapsed, cap.IsCancellationRequested, cpu, sampler, loadStart);
    }

    /// <summary>Runs the workers; <paramref name="stopTaking"/> ends the loop, <paramref name="abort"/> cancels in-flight sends.</summary>
    private Task SendAll(BtpSession sender, Recorder recorder, double rate, CancellationToken stopTaking, CancellationToken abort = default)
    {
        if (abort == default) abort = stopTaking;
        var pacer = new Pacer(rate);
        return Task.WhenAll(Enumerable.Range(0, options.Concurrency).Select(_ => Task.Run(() => WorkerAsync(sender, recorder, pacer, stopTaking, abort))));
    }

    private async Task WorkerAsync(BtpSession sender, Recorder recorder, Pacer pacer, CancellationToken stopTaking, CancellationToken abort)
    {
        byte[] prepare = new byte[PrepareLength()];
        while (!stopTaking.IsCancellationRequested && recorder.TryTake(out long slot))
        {
            if (!await pacer.WaitTurnAsync(slot, stopTaking).ConfigureAwait(false)) return; // counted as unsent
            EncodePrepare(prepare, (ulong)Interlocked.Increment(ref _sequence));
            long started = Stopwatch.GetTimestamp();
            try
            {
                var reply = await sender.SendIlpAsync(prepare, abort).ConfigureAwait(false);
                recorder.Reply(slot, reply.Span, Stopwatch.GetElapsedTime(started));
            }
            catch (Exception e) when (e is BtpException or OperationCanceledException)
            {
                recorder.Error(slot, e is OperationCanceledException ? "cancelled_by_time_cap" : e.GetType().Name, Stopwatch.GetElapsedTime(started));
            }
        }
    }

    private int PrepareLength() => IlpEncoder.EncodedLength(Template(0, new byte[IlpCodec.HashLength]));

    /// <summary>A Prepare whose data starts with the sequence number and whose condition the receiver can recompute.</summary>
    private void EncodePrepare(byte[] into, ulong sequence)
    {
        Span<byte> fulfillment = stackalloc byte[IlpCodec.HashLength];
        _keys.Fulfillment(sequence, fulfillment);
        var condition = SHA256.HashData(fulfillment);
        var writer = new FixedWriter(into);
        IlpEncoder.Encode(Template(sequence, condition), writer);
    }

    private IlpPrepare Template(ulong sequence, byte[] condition)
    {
        var data = new byte[options.DataBytes];
        BinaryPrimitives.WriteUInt64BigEndian(data, sequence);
        return new IlpPrepare
        {
            Amount = options.Amount,
            ExpiresAt = DateTimeOffset.UtcNow.AddSeconds(options.ExpirySeconds),
            ExecutionCondition = condition,
            Destination = options.Destination,
            Data = data,
        };
    }

    private static BtpClient Client(string role, Uri url, IBtpMessageHandler handler) =>
        new($"loadgen-{role}", url, "", "", handler, BtpLimits.Default, NullLogger.Instance);

    private async Task<BtpSession> ConnectAsync(BtpClient client, string role, Uri url, CancellationToken cap)
    {
        var connected = new TaskCompletionSource<BtpSession>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Connected += s => connected.TrySetResult(s);
        client.Start();
        try
        {
            var session = await connected.Task.WaitAsync(ConnectTimeout, cap).ConfigureAwait(false);
            log.WriteLine($"{role} connected to {LoadOptions.Redact(url)}");
            return session;
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            throw new LoadGenException($"the {role} could not connect and authenticate to {LoadOptions.Redact(url)} within {ConnectTimeout.TotalSeconds:F0} s (is the connector running, is the peer configured with that token?)");
        }
    }

    /// <summary>An IBufferWriter over one reused array: the Prepare is encoded in place, no allocation per packet.</summary>
    private sealed class FixedWriter(byte[] buffer) : IBufferWriter<byte>
    {
        private int _written;
        public void Advance(int count) => _written += count;
        public Memory<byte> GetMemory(int sizeHint = 0) => buffer.AsMemory(_written);
        public Span<byte> GetSpan(int sizeHint = 0) => buffer.AsSpan(_written);
    }
}

public sealed class LoadGenException(string message) : Exception(message);
