using System.Diagnostics;
using System.Security.Cryptography;
using M2M.Btp;
using M2M.Core.Ilp;
using M2M.Core.Routing;
using M2M.Server.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Server;

/// <summary>What <see cref="StartupWarmup.RunAsync"/> did.</summary>
/// <param name="DataDirectory">The throwaway connector's temporary directory (deleted before this is returned).</param>
public sealed record WarmupReport(int Sent, int Fulfilled, TimeSpan Elapsed, bool HitTimeCap, string DataDirectory);

/// <summary>
/// Drives packets through a throwaway connector before the real one listens, so the JIT has compiled
/// (and tiered up) the packet path when the first peer's packets arrive: the first 20,000 packets after
/// start cost 2.2–3.1× the warm CPU per packet without it (docs/performance.md). The throwaway connector is
/// a real <see cref="ConnectorHost"/> (Kestrel, BTP sessions, the switch's steps, a SQLite ledger) with
/// two loopback peers of its own, its files in a fresh temporary directory that is deleted afterwards:
/// it never touches the real books, ports or peers. Bounded: a packet count and a time cap for sending,
/// 30 s for each of its two peers to connect.
/// </summary>
public static class StartupWarmup
{
    /// <summary>The warm-up stops taking packets after this long, whatever the count.</summary>
    public static readonly TimeSpan DefaultTimeCap = TimeSpan.FromSeconds(5);

    private const int Concurrency = 32;
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);
    private const string Destination = "g.warmup.receiver.payee";

    public static async Task<WarmupReport> RunAsync(ConnectorSettings real, int packets, TimeSpan timeCap, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(real);
        var clock = Stopwatch.StartNew();
        var dir = Directory.CreateTempSubdirectory("m2m-warmup-");
        try
        {
            string senderToken = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
            string receiverToken = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
            var settings = new ConnectorSettings
            {
                NodeId = "warmup",
                IlpAddress = "g.warmup",
                BindAddress = "127.0.0.1",
                BtpServerPort = 0,
                HealthCheckPort = 0,
                MaxBtpFrameBytes = real.MaxBtpFrameBytes,
                Ledger = new LedgerSettings { Backend = LedgerBackend.Sqlite, Path = Path.Combine(dir.FullName, "ledger.db") },
                Explorer = new ExplorerSettings { Enabled = false },
                DrainTimeout = TimeSpan.Zero,
                Peers =
                [
                    new PeerSettings { Id = "sender", AuthToken = senderToken, SendRoutes = false, ReceiveRoutes = false },
                    new PeerSettings { Id = "receiver", AuthToken = receiverToken, SendRoutes = false, ReceiveRoutes = false },
                ],
                Routes = [new Route("g.warmup.receiver", "receiver")],
                Source = "startup warm-up",
            };
            await using var host = await ConnectorHost.CreateAsync(settings, NullLoggerFactory.Instance, cancellationToken: ct).ConfigureAwait(false);
            await host.StartAsync(ct).ConfigureAwait(false);
            var url = new Uri($"ws://127.0.0.1:{host.BtpPort}/");
            byte[] fulfillment = RandomNumberGenerator.GetBytes(IlpCodec.HashLength);
            var fulfill = IlpEncoder.ToArray(new IlpFulfill { Fulfillment = fulfillment });
            await using var receiver = new BtpClient("warmup-receiver", url, "receiver", receiverToken, new FulfillAll(fulfill), BtpLimits.Default, NullLogger.Instance);
            await using var sender = new BtpClient("warmup-sender", url, "sender", senderToken, new FulfillAll(fulfill), BtpLimits.Default, NullLogger.Instance);
            await ConnectAsync(receiver, ct).ConfigureAwait(false); // first: the route's next hop must be up
            var session = await ConnectAsync(sender, ct).ConfigureAwait(false);
            using var cap = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cap.CancelAfter(timeCap);
            // One Prepare for every packet: the same condition, an expiry well past the time cap.
            byte[] prepare = IlpEncoder.ToArray(new IlpPrepare
            {
                Amount = 1,
                ExpiresAt = DateTimeOffset.UtcNow + timeCap + TimeSpan.FromSeconds(10),
                ExecutionCondition = SHA256.HashData(fulfillment),
                Destination = Destination,
            });
            int taken = 0, sent = 0, fulfilled = 0;
            async Task Worker()
            {
                while (!cap.IsCancellationRequested && Interlocked.Increment(ref taken) <= packets)
                {
                    try
                    {
                        var reply = await session.SendIlpAsync(prepare, cap.Token).ConfigureAwait(false);
                        Interlocked.Increment(ref sent);
                        if (reply.Length > 0 && reply.Span[0] == (byte)IlpPacketType.Fulfill) Interlocked.Increment(ref fulfilled);
                    }
                    catch (Exception e) when (e is OperationCanceledException or BtpException)
                    {
                        return;
                    }
                }
            }
            await Task.WhenAll(Enumerable.Range(0, Math.Min(Concurrency, Math.Max(1, packets))).Select(_ => Task.Run(Worker, CancellationToken.None))).ConfigureAwait(false);
            bool hitCap = cap.IsCancellationRequested && !ct.IsCancellationRequested;
            ct.ThrowIfCancellationRequested();
            return new WarmupReport(sent, fulfilled, clock.Elapsed, hitCap, dir.FullName);
        }
        finally
        {
            try
            {
                dir.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A temporary directory left behind is harmless; the start must not fail for it.
            }
        }
    }

    private static async Task<BtpSession> ConnectAsync(BtpClient client, CancellationToken ct)
    {
        var connected = new TaskCompletionSource<BtpSession>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Connected += s => connected.TrySetResult(s);
        client.Start();
        return await connected.Task.WaitAsync(ConnectTimeout, ct).ConfigureAwait(false);
    }

    /// <summary>The warm-up's peers: the receiver fulfills every Prepare with the one fulfillment.</summary>
    private sealed class FulfillAll(byte[] fulfill) : IBtpMessageHandler
    {
        public ValueTask<ReadOnlyMemory<byte>> HandleIlpAsync(BtpSession session, ReadOnlyMemory<byte> ilpPacket, CancellationToken ct) =>
            ValueTask.FromResult<ReadOnlyMemory<byte>>(fulfill);
    }
}
