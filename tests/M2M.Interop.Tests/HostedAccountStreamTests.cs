using System.Net.Http.Json;
using System.Text.Json;
using M2M.Core.Switch;
using M2M.Server;
using M2M.Server.Configuration;
using M2M.TestKit;

namespace M2M.Interop.Tests;

/// <summary>
/// Issue 17: npm ilp-protocol-spsp / ilp-protocol-stream clients (over ilp-plugin-btp) pay a payment pointer
/// hosted by our node; the money is in the hosted account's balance and in its SSE notification stream, exactly.
/// </summary>
[Trait("Tier", "interop")]
public sealed class HostedAccountStreamTests : HostedNodeTest
{
    private protected override Task<HostedNode> StartNodeAsync() =>
        HostedNode.StartAsync([new PeerSettings { Id = "alice", AuthToken = "alice-secret", Relation = PeerRelation.Child, AssetCode = "USD", AssetScale = 9 }]);

    private NodePeer Pay(string mode, string amount, params string[] extra) => Node.Start("stream-client", "stream-client.js",
        ["--url", $"btp+ws://alice:alice-secret@127.0.0.1:{Host.BtpPort}", "--pointer", $"http://127.0.0.1:{Host.HealthPort}/agent1",
         "--mode", mode, "--amount", amount, .. extra]);

    private Task<JsonElement> CreateAccountAsync(string id) => Node.CreateAccountAsync(id);

    [Fact]
    public async Task Spsp_pay_lands_exactly_in_the_hosted_balance_and_the_event_stream()
    {
        await CreateAccountAsync("agent1");
        using var events = new SseReader(Node.Http, "/accounts/agent1/events");
        await events.SubscribedAsync();

        var client = Pay("pay", "123456");
        var paid = await client.WaitForAsync("paid", TimeSpan.FromSeconds(20));

        Assert.Equal("123456", paid.Str("totalSent"));
        Assert.Equal("123456", await BalanceAsync("agent1"));
        Assert.Equal("-123456", await BalanceAsync("alice"));
        await InteropConnector.WaitUntil(() => events.Total == 123456, "SSE events sum to the amount", diagnostics: () => $" (SSE total {events.Total})");
        await Books.AssertConsistentAsync(Host.Accounting.Ledger);
    }

    [Fact]
    public async Task Stream_in_many_packets_is_exact_and_each_packet_is_one_event()
    {
        await CreateAccountAsync("agent1");
        using var events = new SseReader(Node.Http, "/accounts/agent1/events");
        await events.SubscribedAsync();

        var client = Pay("stream", "10000", "--max-packet", "1000");
        var paid = await client.WaitForAsync("paid", TimeSpan.FromSeconds(20));

        Assert.Equal("10000", paid.Str("totalSent"));
        Assert.Equal("10000", paid.Str("remoteReceived"));
        Assert.Equal("10000", await BalanceAsync("agent1"));
        await InteropConnector.WaitUntil(() => events.Total == 10000, "SSE events sum to the amount", diagnostics: () => $" (SSE total {events.Total})");
        Assert.True(events.Count >= 10, $"{events.Count} events for 10 packets of at most 1000");
        await Books.AssertConsistentAsync(Host.Accounting.Ledger);
    }

    [Fact]
    public async Task Receipts_asked_for_by_spsp_headers_verify_with_ilp_protocol_stream()
    {
        await CreateAccountAsync("agent1");

        var client = Pay("receipts", "9000", "--max-packet", "3000");
        var receipt = await client.WaitForAsync("receipt", TimeSpan.FromSeconds(20));

        Assert.True(receipt.Bool("receiptsEnabled"));
        Assert.True(receipt.Bool("nonceMatches"));
        Assert.Equal("9000", receipt.Str("totalReceived"));
        Assert.Equal("9000", await BalanceAsync("agent1"));
    }

    [Fact]
    public async Task Wrong_shared_secret_and_undecryptable_data_move_no_money()
    {
        await CreateAccountAsync("agent1");

        var client = Pay("wrong-secret", "5000");
        var failed = await client.WaitForAsync("failed", TimeSpan.FromSeconds(20));
        Assert.False(string.IsNullOrEmpty(failed.Str("message")));
        await client.DisposeAsync();

        client = Pay("garbage", "5000");
        var reply = await client.WaitForAsync("reply", TimeSpan.FromSeconds(20));
        Assert.Equal("F06", reply.Str("code"));

        Assert.Equal("0", await BalanceAsync("agent1"));
        Assert.Equal("0", await BalanceAsync("alice"));
        await Books.AssertConsistentAsync(Host.Accounting.Ledger);
    }

    /// <summary>Reads a Server-Sent Events stream of payment events in the background.</summary>
    private sealed class SseReader : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly TaskCompletionSource _subscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _total;
        private int _count;

        public SseReader(HttpClient http, string path) => _ = Task.Run(() => ReadAsync(http, path));

        public long Total => Interlocked.Read(ref _total);
        public int Count => Volatile.Read(ref _count);

        public Task SubscribedAsync() => _subscribed.Task.WaitAsync(TimeSpan.FromSeconds(10));

        private async Task ReadAsync(HttpClient http, string path)
        {
            try
            {
                using var response = await http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead, _stop.Token);
                response.EnsureSuccessStatusCode();
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(_stop.Token));
                while (await reader.ReadLineAsync(_stop.Token) is { } line)
                {
                    if (line.StartsWith(": subscribed", StringComparison.Ordinal)) _subscribed.TrySetResult();
                    if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                    var e = JsonDocument.Parse(line["data: ".Length..]).RootElement;
                    Interlocked.Add(ref _total, long.Parse(e.Str("amount"), System.Globalization.CultureInfo.InvariantCulture));
                    Interlocked.Increment(ref _count);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or HttpRequestException)
            {
                _subscribed.TrySetException(e);
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _stop.Dispose();
        }
    }
}
