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

    // Every packet of the run (warm-up and measured) has its condition and Fulfill ready before the first is sent.
    private readonly PacketKeys _keys = new(options.Warmup + options.Packets);
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
        var self = Process.GetCurrentProcess();
        var selfCpuStart = self.TotalProcessorTime;
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
        self.Refresh();
        double selfCpu = (self.TotalProcessorTime - selfCpuStart).TotalSeconds;
        var report = recorder.Report(options, clock.Elapsed, cap.IsCancellationRequested, cpu, sampler, loadStart);
        return report with
        {
            LoadGenCpuSeconds = Math.Round(selfCpu, 2),
            LoadGenCpuMicrosPerPacket = report.Sent > 0 ? Math.Round(selfCpu * 1e6 / report.Sent, 1) : null,
        };
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
        var prepare = PrepareTemplate.Create(options);
        while (!stopTaking.IsCancellationRequested && recorder.TryTake(out long slot))
        {
            if (!await pacer.WaitTurnAsync(slot, stopTaking).ConfigureAwait(false)) return; // counted as unsent
            prepare.Fill(_keys, (ulong)Interlocked.Increment(ref _sequence), DateTimeOffset.UtcNow.AddSeconds(options.ExpirySeconds));
            long started = Stopwatch.GetTimestamp();
            try
            {
                var reply = await sender.SendIlpAsync(prepare.Bytes, abort).ConfigureAwait(false);
                recorder.Reply(slot, reply.Span, Stopwatch.GetElapsedTime(started));
            }
            catch (Exception e) when (e is BtpException or OperationCanceledException)
            {
                recorder.Error(slot, e is OperationCanceledException ? "cancelled_by_time_cap" : e.GetType().Name, Stopwatch.GetElapsedTime(started));
            }
        }
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

}

/// <summary>
/// One worker's Prepare, encoded once; per packet only the expiry, the condition and the sequence number
/// (first 8 data bytes) are written in place, so the sender costs no allocation and no re-encode per packet
/// (it shares the cores with the connector it measures).
/// </summary>
public sealed class PrepareTemplate
{
    private readonly int _expiryOffset;
    private readonly int _conditionOffset;
    private readonly int _dataOffset;

    private PrepareTemplate(byte[] bytes, int dataBytes)
    {
        Bytes = bytes;
        // The offsets come from the codec's own reading of the template (its slices point into bytes).
        if (IlpCodec.TryReadPrepare(bytes, out var view, out string? error) != OperationStatus.Done)
            throw new InvalidOperationException($"prepare template does not decode: {error}");
        _conditionOffset = OffsetOf(view.ExecutionCondition);
        _expiryOffset = _conditionOffset - IlpCodec.TimestampLength;
        _dataOffset = OffsetOf(view.Data);
        if (view.Data.Length != dataBytes) throw new InvalidOperationException("prepare template data length mismatch");
    }

    private static int OffsetOf(ReadOnlyMemory<byte> slice) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(slice, out var segment) ? segment.Offset : throw new InvalidOperationException("not an array slice");

    public byte[] Bytes { get; }

    public static PrepareTemplate Create(LoadOptions options) => Create(options.Amount, options.Destination, options.DataBytes);

    public static PrepareTemplate Create(ulong amount, string destination, int dataBytes)
    {
        var bytes = IlpEncoder.ToArray(new IlpPrepare
        {
            Amount = amount,
            ExpiresAt = DateTimeOffset.UnixEpoch,
            ExecutionCondition = new byte[IlpCodec.HashLength],
            Destination = destination,
            Data = new byte[Math.Max(dataBytes, sizeof(ulong))],
        });
        return new PrepareTemplate(bytes, Math.Max(dataBytes, sizeof(ulong)));
    }

    /// <summary>Packet <paramref name="sequence"/>: its condition (see <see cref="PacketKeys"/>), expiry and sequence number.</summary>
    public void Fill(PacketKeys keys, ulong sequence, DateTimeOffset expiresAt)
    {
        keys.Condition(sequence, Bytes.AsSpan(_conditionOffset, IlpCodec.HashLength));
        IlpCodec.WriteTimestamp(Bytes.AsSpan(_expiryOffset, IlpCodec.TimestampLength), expiresAt);
        BinaryPrimitives.WriteUInt64BigEndian(Bytes.AsSpan(_dataOffset), sequence);
    }
}

public sealed class LoadGenException(string message) : Exception(message);
