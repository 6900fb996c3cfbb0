using System.Globalization;
using M2M.Core.Ledger;
using M2M.Core.Switch;
using M2M.Server;
using M2M.Server.Configuration;
using Xunit.Abstractions;

namespace M2M.Interop.Tests;

/// <summary>
/// Issue 16, exchange: an npm STREAM sender on a USD scale-2 child pays an npm STREAM server on an
/// XRP scale-6 child through our connector. What arrives is what the rate says per packet, rounded
/// down (never more than the exact value, at most one drop short per packet), and both ledgers agree
/// with what each side saw; with a maxPacketAmount on the sender, our F08 (in the sender's units)
/// makes STREAM shrink its packets and the payment still completes.
/// </summary>
[Trait("Tier", "interop")]
public sealed class ExchangeInteropTests(ITestOutputHelper output) : IAsyncLifetime
{
    // One cent = 0.01 USD = 1/30 XRP (XRP at 0.30 USD) = 33,333.33… drops, less 0.2 %: 33,266.66… drops, not a whole number.
    private static readonly Dictionary<string, decimal> Rates = new() { ["USD"] = 1m, ["XRP"] = 0.3m };
    private const decimal Spread = 0.002m;

    private ConnectorHost? _host;
    private NodePeer? _sender;
    private NodePeer? _receiver;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => InteropConnector.DisposeAllAsync(_host, _sender, _receiver);

    private async Task StartAsync(ulong? senderMaxPacket)
    {
        _host = await InteropConnector.StartAsync(new ConnectorSettings
        {
            NodeId = "conn",
            IlpAddress = "test.conn",
            Peers =
            [
                new PeerSettings { Id = "alice", AuthToken = "alice-secret", Relation = PeerRelation.Child, AssetCode = "USD", AssetScale = 2, MaxPacketAmount = senderMaxPacket },
                new PeerSettings { Id = "bob", AuthToken = "bob-secret", Relation = PeerRelation.Child, AssetCode = "XRP", AssetScale = 6 },
            ],
            Exchange = new ExchangeSettings { Rates = Rates, Spread = Spread },
        });
    }

    /// <summary>The rule written out for these rates: cents × (1 / 0.3) × 0.998 × 10^(6 − 2) = cents × 99,800 / 3, rounded down.</summary>
    private static ulong Drops(ulong cents) => cents * 99_800 / 3;

    [Fact]
    public async Task A_STREAM_payment_from_USD_2_to_XRP_6_delivers_what_the_rate_says_and_the_books_agree() =>
        await PayAndCheckAsync(senderMaxPacket: null, maxPacketArg: "100");

    [Fact]
    public async Task Our_F08_in_the_senders_units_makes_STREAM_shrink_its_packets_across_scales() =>
        await PayAndCheckAsync(senderMaxPacket: 40, maxPacketArg: null);

    private async Task PayAndCheckAsync(ulong? senderMaxPacket, string? maxPacketArg)
    {
        await StartAsync(senderMaxPacket);
        var host = _host!;
        _receiver = NodePeer.Start("bob", "stream-server.js", "--url", $"btp+ws://bob:bob-secret@127.0.0.1:{host.BtpPort}");
        int spspPort = (await _receiver.WaitForAsync("listening", TimeSpan.FromSeconds(20))).Int("spspPort");
        var args = new List<string> { "--url", $"btp+ws://alice:alice-secret@127.0.0.1:{host.BtpPort}", "--pointer", $"http://127.0.0.1:{spspPort}/", "--mode", "stream", "--amount", "1000" };
        if (maxPacketArg is not null) args.AddRange(["--max-packet", maxPacketArg]);
        _sender = NodePeer.Start("alice", "stream-client.js", [.. args]);
        Assert.True(0 == await _sender.WaitForExitAsync(TimeSpan.FromSeconds(40)), _sender.Diagnostics() + _receiver.Diagnostics());
        var paid = _sender.EventsNamed("paid").Single();
        Assert.Equal("1000", paid.Str("totalSent"));

        // Our books are final: every packet was posted before its Fulfill went back to the sender, which has exited.
        var ledger = host.Accounting.Ledger;
        var bob = (await ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("bob", PeerAccounts.LedgerFor("XRP", 6))))!;
        ulong credited = (ulong)(bob.CreditsPosted - bob.DebitsPosted);
        // The receiver writes its money events after its Fulfills, so the last ones may still be on their way: wait until
        // they add up to what we credited bob (a receiver that saw more or less never gets there and fails here).
        static ulong Sum(IEnumerable<System.Text.Json.JsonElement> events) => events
            .Where(e => NodePeer.Is(e, "money")).Aggregate(0UL, (a, e) => a + ulong.Parse(e.Str("amount"), CultureInfo.InvariantCulture));
        await _receiver.WaitUntilAsync(e => Sum(e) == credited, $"bob's money events to add up to the {credited} drops our ledger credited him", TimeSpan.FromSeconds(20));

        // What the receiver saw, packet by packet: each one is floor(cents × rate) of some whole number of cents.
        var money = _receiver.EventsNamed("money").Select(m => ulong.Parse(m.Str("amount"), CultureInfo.InvariantCulture)).ToList();
        ulong delivered = money.Aggregate(0UL, (a, b) => a + b);
        ulong exactTotal = Drops(1000);
        Assert.True(delivered <= exactTotal, $"delivered {delivered} drops, more than the exact {exactTotal}");
        Assert.True(delivered + (ulong)money.Count >= exactTotal, $"delivered {delivered} drops in {money.Count} packets: more than one drop per packet short of {exactTotal}");
        output.WriteLine($"1000 cents → {delivered} drops in {money.Count} packets (largest {money.Max()}); exact value {exactTotal}, short by {exactTotal - delivered}");
        if (senderMaxPacket is { } max) Assert.All(money, m => Assert.True(m <= Drops(max), $"a packet of {m} drops is more than {max} cents are worth"));

        // Both ledgers: alice paid exactly what her STREAM sent, bob got exactly what his STREAM received; nothing pending.
        var alice = (await ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("alice", PeerAccounts.LedgerFor("USD", 2))))!;
        bob = (await ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("bob", PeerAccounts.LedgerFor("XRP", 6))))!;
        Assert.Equal((UInt128)1000, alice.DebitsPosted - alice.CreditsPosted);
        Assert.Equal((UInt128)delivered, bob.CreditsPosted - bob.DebitsPosted);
        Assert.Equal(((UInt128)0, (UInt128)0), (alice.DebitsPending, bob.CreditsPending));
        var clearingUsd = (await ledger.LookupAccountAsync(PeerAccounts.ClearingAccountId(PeerAccounts.LedgerFor("USD", 2))))!;
        var clearingXrp = (await ledger.LookupAccountAsync(PeerAccounts.ClearingAccountId(PeerAccounts.LedgerFor("XRP", 6))))!;
        Assert.Equal((UInt128)1000, clearingUsd.CreditsPosted - clearingUsd.DebitsPosted);
        Assert.Equal((UInt128)delivered, clearingXrp.DebitsPosted - clearingXrp.CreditsPosted);
    }
}
