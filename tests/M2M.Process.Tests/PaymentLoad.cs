using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using M2M.Btp;
using M2M.Core.Ilp;
using M2M.TestKit;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.Process.Tests;

/// <summary>
/// A paying peer behind a load balancer: one reconnecting BTP client (ours) sends fixed-amount
/// Prepares from a few concurrent workers for as long as it runs, and records each Prepare's one
/// outcome: fulfilled, rejected (by code, and by phase of the test), unsent (the node closed the session
/// with 1001 "going away" before answering it: a draining node answers every request it took before
/// that close, so this one was never handled there), or lost (its connection closed otherwise before
/// the reply came: counted, and accounted for against the books by the test).
/// </summary>
internal sealed class PaymentLoad : IBtpMessageHandler, IAsyncDisposable
{
    private readonly BtpClient _client;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _workers = [];
    private readonly ConcurrentDictionary<string, int> _outcomes = new();
    private long _fulfilledAmount, _sent, _lost, _unsent;
    private volatile string _phase = "start";

    public PaymentLoad(int btpPort, string peerId, string token, string destination, ulong amount)
    {
        _client = new BtpClient("lb", new Uri($"ws://127.0.0.1:{btpPort}/"), peerId, token, this, BtpLimits.Default, NullLogger.Instance);
        Destination = destination;
        Amount = amount;
    }

    public string Destination { get; }
    public ulong Amount { get; }
    public long Sent => Interlocked.Read(ref _sent);
    public long Lost => Interlocked.Read(ref _lost);
    public long Unsent => Interlocked.Read(ref _unsent);
    public ulong FulfilledAmount => (ulong)Interlocked.Read(ref _fulfilledAmount);
    public IReadOnlyDictionary<string, int> Outcomes => _outcomes;

    /// <summary>Outcomes are also counted under "phase/outcome" (e.g. "before-switch/fulfilled").</summary>
    public string Phase { set => _phase = value; }

    public int Count(string key) => _outcomes.GetValueOrDefault(key);

    public void Start(int workers, TimeSpan pause)
    {
        _client.Start();
        for (int i = 0; i < workers; i++) _workers.Add(Task.Run(() => WorkAsync(pause)));
    }

    private async Task WorkAsync(TimeSpan pause)
    {
        while (!_stop.IsCancellationRequested)
        {
            var session = _client.Current;
            if (session is null || !session.IsOpen)
            {
                await Task.Delay(10);
                continue;
            }
            string phase = _phase, outcome;
            var prepare = TestPeer.Payment(Destination, Amount, expiresInSeconds: 20);
            Interlocked.Increment(ref _sent);
            try
            {
                var reply = await session.SendIlpAsync(IlpEncoder.ToArray(prepare)).WaitAsync(TimeSpan.FromSeconds(15));
                IlpCodec.TryDecode(reply, out var packet, out _);
                switch (packet)
                {
                    case IlpFulfill f when f.Fulfillment.Span.SequenceEqual(prepare.Data.Span):
                        Interlocked.Add(ref _fulfilledAmount, (long)Amount);
                        outcome = "fulfilled";
                        break;
                    case IlpReject r:
                        outcome = r.Code;
                        break;
                    default:
                        outcome = "invalid-reply";
                        break;
                }
            }
            catch (BtpSessionClosedException) when (session.PeerCloseStatus == System.Net.WebSockets.WebSocketCloseStatus.EndpointUnavailable)
            {
                Interlocked.Increment(ref _unsent);
                outcome = "unsent";
            }
            catch (Exception e) when (e is BtpException or IOException or System.Net.WebSockets.WebSocketException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
            {
                Interlocked.Increment(ref _lost);
                outcome = "lost";
            }
            _outcomes.AddOrUpdate(outcome, 1, (_, n) => n + 1);
            _outcomes.AddOrUpdate($"{phase}/{outcome}", 1, (_, n) => n + 1);
            if (pause > TimeSpan.Zero) await Task.Delay(pause);
        }
    }

    /// <summary>Waits until at least <paramref name="count"/> more Prepares were fulfilled.</summary>
    public async Task WaitForFulfilledAsync(int count, TimeSpan timeout)
    {
        int target = Count("fulfilled") + count;
        var sw = Stopwatch.StartNew();
        while (Count("fulfilled") < target)
        {
            if (sw.Elapsed > timeout) throw new TimeoutException($"only {Count("fulfilled")} of {target} fulfilled within {timeout}: {Describe()}");
            await Task.Delay(20);
        }
    }

    public string Describe() => string.Join(", ", _outcomes.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => $"{k.Key}={k.Value}"));

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_workers);
    }

    public ValueTask<ReadOnlyMemory<byte>> HandleIlpAsync(BtpSession session, ReadOnlyMemory<byte> ilpPacket, CancellationToken ct) =>
        ValueTask.FromResult<ReadOnlyMemory<byte>>(IlpEncoder.ToArray(IlpRejects.Create(IlpErrorCode.F02_Unreachable, "", "the load generator accepts no packets")));

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _client.DisposeAsync();
        _stop.Dispose();
    }
}

/// <summary>Polls a condition until it holds, failing the test with <c>what</c> after the timeout.</summary>
internal static class Eventually
{
    public static async Task Until(Func<bool> condition, string what, double seconds = 30)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(seconds), $"timed out waiting: {what}");
            await Task.Delay(50);
        }
    }
}
