using System.Globalization;
using System.Numerics;
using System.Security.Cryptography;
using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Core.Switch;
using Microsoft.Extensions.Time.Testing;

namespace M2M.Core.Tests;

/// <summary>
/// Exchange between assets (unit tier): the exact conversion (floor, never more than received, checked
/// against an independent oracle), the exchange step's rejects (F02 no rate, T00 stale, R01 converts
/// to 0, F08 past UInt64 with data in the incoming units), and the two ledger legs on their own ledgers.
/// </summary>
[Trait("Tier", "unit")]
public class ExchangeTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 7, 0, 0, TimeSpan.Zero);
    private static readonly PeerDescriptor UsdPeer = new("alice", PeerRelation.Child, "USD", 2, null);
    private static readonly PeerDescriptor XrpPeer = new("bob", PeerRelation.Child, "XRP", 6, null);
    private static readonly PeerDescriptor UsdNine = new("carol", PeerRelation.Child, "USD", 9, null);
    private static readonly PeerDescriptor Euro = new("eve", PeerRelation.Child, "EUR", 2, null);
    private static readonly Dictionary<string, decimal> Rates = new() { ["USD"] = 1m, ["XRP"] = 0.5m };

    private readonly FakeTimeProvider _time = new(Now);
    private readonly SwitchOptions _options = new() { IlpAddress = "g.conn" };

    [Fact]
    public void One_dollar_at_half_a_dollar_per_XRP_less_the_spread_is_exactly_1_996_000_drops()
    {
        var rate = ConversionRate.Of(1m, 2, 0.5m, 6, 0.002m);
        Assert.True(rate.TryConvert(100, out ulong drops));
        Assert.Equal(1_996_000UL, drops);
        // And back: 1,996,000 drops = 1.996 XRP = 0.998 USD, less 0.2 % = 99.6004 cents → 99 (rounded down).
        Assert.True(ConversionRate.Of(0.5m, 6, 1m, 2, 0.002m).TryConvert(1_996_000, out ulong cents));
        Assert.Equal(99UL, cents);
    }

    [Fact]
    public void Conversion_is_the_floor_of_the_exact_value_and_never_pays_more_than_it_received()
    {
        var random = new Random(16);
        for (int i = 0; i < 20_000; i++)
        {
            decimal valueIn = RandomRate(random), valueOut = RandomRate(random);
            decimal spread = random.Next(4) == 0 ? 0m : Math.Round((decimal)random.NextDouble() * 0.05m, random.Next(1, 6));
            byte scaleIn = (byte)random.Next(0, 13), scaleOut = (byte)random.Next(0, 13);
            ulong amount = random.Next(3) switch
            {
                0 => (ulong)random.Next(1, 1000),
                1 => (ulong)random.NextInt64(1, long.MaxValue),
                _ => (ulong)random.NextInt64(1, 1_000_000_000),
            };
            var rate = ConversionRate.Of(valueIn, scaleIn, valueOut, scaleOut, spread);
            // The oracle: the definition written out from the decimals' text, not from ConversionRate's factoring.
            var (n, d) = Exact(valueIn, scaleIn, valueOut, scaleOut, spread);
            BigInteger exactTimesD = amount * n;
            if (!rate.TryConvert(amount, out ulong converted))
            {
                Assert.True(exactTimesD / d > ulong.MaxValue, $"case {i}: refused {amount} although it fits");
                continue;
            }
            string what = $"case {i}: {amount} at {valueIn}/{valueOut} scales {scaleIn}→{scaleOut} spread {spread} gave {converted}";
            Assert.True(converted * d <= exactTimesD, "paid more than the exact value: " + what);
            Assert.True((converted + BigInteger.One) * d > exactTimesD, "rounded down by more than one unit: " + what);
            // In value terms (no spread): what goes out is worth at most what came in.
            Assert.True(converted * Big(valueOut) * BigInteger.Pow(10, scaleIn) * Pow10(Exp(valueIn)) <= amount * Big(valueIn) * BigInteger.Pow(10, scaleOut) * Pow10(Exp(valueOut)), "worth more than received: " + what);
        }
    }

    [Fact]
    public void An_amount_past_UInt64_after_conversion_is_refused_and_the_largest_that_fits_is_exact()
    {
        var rate = ConversionRate.Of(1m, 0, 0.3m, 6, 0m); // one unit → 3,333,333.33… micro-units
        Assert.False(rate.TryConvert(ulong.MaxValue, out _));
        ulong max = rate.MaxConvertible;
        Assert.True(rate.TryConvert(max, out ulong atMax));
        Assert.False(rate.TryConvert(max + 1, out _));
        Assert.True(atMax > ulong.MaxValue - 3_333_334, $"{atMax}");
    }

    [Fact]
    public async Task USD_scale_2_to_XRP_scale_6_is_converted_before_the_next_step()
    {
        var (step, _) = Step(new RateTable(Rates, null, "config"), spread: 0.002m);
        PacketContext? seen = null;
        var reply = await step.InvokeAsync(Context(250, UsdPeer, "bob"), Capture(c => seen = c));

        Assert.IsType<IlpFulfill>(reply);
        Assert.True(seen!.Converted);
        Assert.Equal(4_990_000UL, seen.OutgoingAmount);
        Assert.Equal(250UL, seen.Prepare.Amount); // the incoming packet is untouched
    }

    [Fact]
    public async Task Same_asset_and_scale_is_untouched_even_with_no_rate_for_its_code()
    {
        var (step, _) = Step(new RateTable(new Dictionary<string, decimal> { ["XRP"] = 1m }, null, "config"), spread: 0.5m);
        var other = UsdPeer with { Id = "dave" };
        PacketContext? seen = null;
        await step.InvokeAsync(Context(777, UsdPeer, "dave", other), Capture(c => seen = c));

        Assert.False(seen!.Converted);
        Assert.Equal(777UL, seen.OutgoingAmount);
    }

    [Fact]
    public async Task Same_code_other_scale_needs_no_rate_and_pays_the_spread()
    {
        var (step, _) = Step(new RateTable(new Dictionary<string, decimal>(), null, "config"), spread: 0.01m);
        PacketContext? seen = null;
        await step.InvokeAsync(Context(100, UsdPeer, "carol"), Capture(c => seen = c));

        Assert.Equal(990_000_000UL, seen!.OutgoingAmount); // 1.00 USD → 0.99 USD at scale 9
    }

    [Fact]
    public async Task A_code_without_a_rate_is_F02_naming_it()
    {
        var (step, _) = Step(new RateTable(Rates, null, "config"), spread: 0);
        var reply = Assert.IsType<IlpReject>(await step.InvokeAsync(Context(100, UsdPeer, "eve"), Unreachable));

        Assert.Equal("F02", reply.Code);
        Assert.Contains("EUR has no rate in config", reply.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fetched_rates_older_than_max_age_are_T00_with_the_age_and_fresh_ones_convert()
    {
        var (step, rates) = Step(new RateTable(Rates, Now, "http://127.0.0.1/rates"), spread: 0, maxAge: TimeSpan.FromSeconds(60));
        PacketContext? seen = null;
        await step.InvokeAsync(Context(100, UsdPeer, "bob"), Capture(c => seen = c));
        Assert.Equal(2_000_000UL, seen!.OutgoingAmount);

        _time.Advance(TimeSpan.FromSeconds(61));
        var reply = Assert.IsType<IlpReject>(await step.InvokeAsync(Context(100, UsdPeer, "bob"), Unreachable));
        Assert.Equal("T00", reply.Code);
        Assert.Contains("stale", reply.Message, StringComparison.Ordinal);
        Assert.Contains("61 s old (limit 60 s)", reply.Message, StringComparison.Ordinal);

        rates.Update(new RateTable(Rates, _time.GetUtcNow(), "http://127.0.0.1/rates"));
        Assert.IsType<IlpFulfill>(await step.InvokeAsync(Context(100, UsdPeer, "bob"), Capture(_ => { })));
    }

    [Fact]
    public async Task No_rates_yet_from_the_source_is_T00()
    {
        var (step, _) = Step(null, spread: 0, maxAge: TimeSpan.FromSeconds(60));
        var reply = Assert.IsType<IlpReject>(await step.InvokeAsync(Context(100, UsdPeer, "bob"), Unreachable));
        Assert.Equal("T00", reply.Code);
        Assert.Contains("no exchange rates yet", reply.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_non_zero_amount_that_converts_to_zero_is_R01_and_zero_amounts_pass()
    {
        var (step, _) = Step(new RateTable(Rates, null, "config"), spread: 0);
        // 1 drop = 0.000001 XRP = 0.0000005 USD: less than a cent.
        var reply = Assert.IsType<IlpReject>(await step.InvokeAsync(Context(1, XrpPeer, "alice"), Unreachable));
        Assert.Equal("R01", reply.Code);

        PacketContext? seen = null;
        await step.InvokeAsync(Context(0, XrpPeer, "alice"), Capture(c => seen = c));
        Assert.Equal(0UL, seen!.OutgoingAmount);
    }

    [Fact]
    public async Task Past_UInt64_after_conversion_is_F08_with_the_maximum_in_the_incoming_units()
    {
        var big = UsdPeer with { AssetScale = 0 };
        var (step, _) = Step(new RateTable(Rates, null, "config"), spread: 0, source: big);
        var reply = Assert.IsType<IlpReject>(await step.InvokeAsync(Context(ulong.MaxValue / 2, big, "bob"), Unreachable));

        Assert.Equal("F08", reply.Code);
        Assert.True(IlpRejects.TryReadAmountTooLarge(reply, out ulong received, out ulong maximum));
        Assert.Equal(ulong.MaxValue / 2, received);
        Assert.Equal(ConversionRate.Of(1m, 0, 0.5m, 6, 0m).MaxConvertible, maximum);
        Assert.Equal(ulong.MaxValue / 2_000_000, maximum); // 1 USD = 2,000,000 drops
    }

    [Fact]
    public async Task The_ledger_books_each_leg_on_its_own_assets_ledger_and_a_reject_voids_both()
    {
        var ledger = new MemoryLedger(_time);
        Assert.All(await ledger.CreateAccountsAsync(
        [
            PeerAccounts.PeerAccount("alice", "USD", 2, null), PeerAccounts.ClearingAccount("USD", 2),
            PeerAccounts.PeerAccount("bob", "XRP", 6, null), PeerAccounts.ClearingAccount("XRP", 6),
        ]), r => Assert.Equal(CreateAccountResult.Ok, r));
        var peers = new Dictionary<string, PeerDescriptor> { ["alice"] = UsdPeer, ["bob"] = XrpPeer };
        var exchange = new ExchangeStep(_options, new ExchangeRates(0.002m, null, _time, new RateTable(Rates, null, "config")), peers.GetValueOrDefault);
        var ledgerStep = new LedgerStep(_options, ledger, peers.GetValueOrDefault, _time);
        ulong forwarded = 0;
        PacketHandler pipeline(IlpReply downstream) => c => exchange.InvokeAsync(c, c2 => ledgerStep.InvokeAsync(c2, c3 =>
        {
            forwarded = c3.OutgoingAmount;
            return ValueTask.FromResult(downstream);
        }));

        Assert.IsType<IlpFulfill>(await pipeline(new IlpFulfill { Fulfillment = new byte[32] })(Context(100, UsdPeer, "bob")));
        Assert.Equal(1_996_000UL, forwarded);
        Assert.IsType<IlpReject>(await pipeline(IlpRejects.Create("F99", "g.bob", "no"))(Context(300, UsdPeer, "bob")));

        var alice = (await ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("alice", PeerAccounts.LedgerFor("USD", 2))))!;
        var bob = (await ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("bob", PeerAccounts.LedgerFor("XRP", 6))))!;
        Assert.Equal(((UInt128)100, (UInt128)0, (UInt128)0), (alice.DebitsPosted, alice.DebitsPending, alice.CreditsPosted));
        Assert.Equal(((UInt128)1_996_000, (UInt128)0, (UInt128)0), (bob.CreditsPosted, bob.CreditsPending, bob.DebitsPosted));
        var report = await LedgerVerifier.VerifyAsync(ledger, _time.GetUtcNow(), TimeSpan.FromMinutes(1));
        Assert.True(report.IsConsistent, string.Join("; ", report.Violations));
    }

    [Fact]
    public async Task Without_an_exchange_step_different_assets_are_still_F02_at_the_ledger()
    {
        var ledger = new MemoryLedger(_time);
        var peers = new Dictionary<string, PeerDescriptor> { ["alice"] = UsdPeer, ["bob"] = XrpPeer };
        var ledgerStep = new LedgerStep(_options, ledger, peers.GetValueOrDefault, _time);
        var reply = Assert.IsType<IlpReject>(await ledgerStep.InvokeAsync(Context(100, UsdPeer, "bob"), Unreachable));
        Assert.Equal("F02", reply.Code);
    }

    private (ExchangeStep Step, ExchangeRates Rates) Step(RateTable? table, decimal spread, TimeSpan? maxAge = null, PeerDescriptor? source = null)
    {
        var peers = new Dictionary<string, PeerDescriptor> { ["alice"] = UsdPeer, ["bob"] = XrpPeer, ["carol"] = UsdNine, ["eve"] = Euro, ["dave"] = UsdPeer with { Id = "dave" } };
        if (source is not null) peers[source.Id] = source;
        var rates = new ExchangeRates(spread, maxAge, _time, table);
        return (new ExchangeStep(_options, rates, peers.GetValueOrDefault), rates);
    }

    private static PacketContext Context(ulong amount, PeerDescriptor source, string nextHop, PeerDescriptor? _ = null)
    {
        var prepare = new IlpPrepare
        {
            Amount = amount,
            ExpiresAt = Now.AddSeconds(10),
            ExecutionCondition = SHA256.HashData(RandomNumberGenerator.GetBytes(32)),
            Destination = "g.conn." + nextHop,
        };
        return new PacketContext(prepare, source, Now, CancellationToken.None) { NextHop = nextHop, OutgoingExpiresAt = Now.AddSeconds(9) };
    }

    private static PacketHandler Capture(Action<PacketContext> seen) => c =>
    {
        seen(c);
        return ValueTask.FromResult<IlpReply>(new IlpFulfill { Fulfillment = new byte[32] });
    };

    private static readonly PacketHandler Unreachable = _ => throw new InvalidOperationException("the step should have answered itself");

    private static decimal RandomRate(Random random) => random.Next(3) switch
    {
        0 => random.Next(1, 10_000),
        1 => Math.Round((decimal)random.NextDouble() * 10m, random.Next(1, 9)) + 0.0001m,
        _ => Math.Round((decimal)random.NextDouble() / 1000m, 12) + 0.00000001m,
    };

    private static (BigInteger N, BigInteger D) Exact(decimal vIn, byte sIn, decimal vOut, byte sOut, decimal spread)
    {
        // amount × vIn × (1 − spread) × 10^sOut / (vOut × 10^sIn), each decimal read from its text.
        var keep = 1m - spread;
        return (Big(vIn) * Big(keep) * Pow10(Exp(vOut)) * BigInteger.Pow(10, sOut),
                Big(vOut) * Pow10(Exp(vIn)) * Pow10(Exp(keep)) * BigInteger.Pow(10, sIn));
    }

    private static BigInteger Big(decimal d) => BigInteger.Parse(d.ToString(CultureInfo.InvariantCulture).Replace(".", "", StringComparison.Ordinal), CultureInfo.InvariantCulture);

    private static int Exp(decimal d)
    {
        string text = d.ToString(CultureInfo.InvariantCulture);
        int dot = text.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? 0 : text.Length - dot - 1;
    }

    private static BigInteger Pow10(int e) => BigInteger.Pow(10, e);
}
