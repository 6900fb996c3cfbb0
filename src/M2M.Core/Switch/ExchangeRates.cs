using System.Collections.Concurrent;
using System.Numerics;

namespace M2M.Core.Switch;

/// <summary>
/// An exact conversion factor from one asset's smallest units to another's: outgoing =
/// floor(incoming × Numerator / Denominator). Rational, so no rounding happens before the one floor.
/// </summary>
public readonly record struct ConversionRate(BigInteger Numerator, BigInteger Denominator)
{
    /// <summary>
    /// The factor for one unit of <paramref name="valueIn"/>'s asset (scale <paramref name="scaleIn"/>) into
    /// <paramref name="valueOut"/>'s (scale <paramref name="scaleOut"/>), less the spread:
    /// valueIn / valueOut × (1 − spread) × 10^(scaleOut − scaleIn). Values are each asset's worth in a common base.
    /// </summary>
    public static ConversionRate Of(decimal valueIn, byte scaleIn, decimal valueOut, byte scaleOut, decimal spread)
    {
        if (valueIn <= 0 || valueOut <= 0) throw new ArgumentOutOfRangeException(nameof(valueIn), "rates must be positive");
        if (spread < 0 || spread >= 1) throw new ArgumentOutOfRangeException(nameof(spread), "spread must be in [0, 1)");
        var (mIn, eIn) = Split(valueIn);
        var (mOut, eOut) = Split(valueOut);
        var (mKeep, eKeep) = Split(1m - spread);
        var numerator = mIn * mKeep * BigInteger.Pow(10, eOut + scaleOut);
        var denominator = mOut * BigInteger.Pow(10, eIn + eKeep + scaleIn);
        var gcd = BigInteger.GreatestCommonDivisor(numerator, denominator);
        return new ConversionRate(numerator / gcd, denominator / gcd);
    }

    /// <summary>floor(amount × rate): never more than the exact value, so the connector never pays more than it received. False past UInt64.</summary>
    public bool TryConvert(ulong amount, out ulong converted)
    {
        var exact = amount * Numerator / Denominator; // BigInteger division truncates: floor for non-negative values
        if (exact > ulong.MaxValue)
        {
            converted = 0;
            return false;
        }
        converted = (ulong)exact;
        return true;
    }

    /// <summary>The largest incoming amount whose conversion still fits in a UInt64 (the F08 maximum when it does not).</summary>
    public ulong MaxConvertible
    {
        get
        {
            // floor(x·N/D) ≤ M  ⇔  x·N < (M+1)·D  ⇔  x ≤ floor(((M+1)·D − 1) / N)
            var max = (((BigInteger)ulong.MaxValue + 1) * Denominator - 1) / Numerator;
            return max > ulong.MaxValue ? ulong.MaxValue : (ulong)max;
        }
    }

    /// <summary>A decimal's exact mantissa and power of ten (value = mantissa / 10^exponent).</summary>
    private static (BigInteger Mantissa, int Exponent) Split(decimal value)
    {
        Span<int> bits = stackalloc int[4];
        decimal.GetBits(value, bits);
        var mantissa = ((BigInteger)(uint)bits[2] << 64) | ((BigInteger)(uint)bits[1] << 32) | (uint)bits[0];
        return (mantissa, (bits[3] >> 16) & 0xFF);
    }
}

/// <summary>
/// One set of exchange rates: each asset code's value in a common base (XRP: 0.5 means one XRP is worth
/// half a base unit). <see cref="AsOf"/> is when the rate source produced them; null for the configured
/// rates, which never go stale.
/// </summary>
public sealed class RateTable(IReadOnlyDictionary<string, decimal> values, DateTimeOffset? asOf, string origin)
{
    private readonly ConcurrentDictionary<(string, byte, string, byte), ConversionRate> _rates = new();

    public IReadOnlyDictionary<string, decimal> Values { get; } = values;
    public DateTimeOffset? AsOf { get; } = asOf;
    /// <summary>Where they came from, for messages: "config" or the rate source's URL.</summary>
    public string Origin { get; } = origin;

    /// <summary>The factor between two assets (cached per pair: the BigInteger work is done once per table).</summary>
    internal ConversionRate? Rate(string codeIn, byte scaleIn, string codeOut, byte scaleOut, decimal spread)
    {
        var key = (codeIn, scaleIn, codeOut, scaleOut);
        if (_rates.TryGetValue(key, out var cached)) return cached;
        decimal valueIn, valueOut;
        if (codeIn == codeOut) valueIn = valueOut = 1m; // a change of scale only: no rate needed
        else if (!Values.TryGetValue(codeIn, out valueIn) || !Values.TryGetValue(codeOut, out valueOut)) return null;
        var rate = ConversionRate.Of(valueIn, scaleIn, valueOut, scaleOut, spread);
        if (_rates.Count < 4096) _rates[key] = rate;
        return rate;
    }
}

/// <summary>Why a conversion could not be quoted.</summary>
public enum QuoteProblem
{
    None,
    /// <summary>An asset code has no rate: the configuration is missing it (F02).</summary>
    NoRate,
    /// <summary>The rate source's last good rates are older than the limit (T00: may recover).</summary>
    Stale,
    /// <summary>A rate source is configured but has not answered yet and there are no configured rates to use (T00).</summary>
    NoRatesYet,
}

/// <summary>
/// The connector's current exchange rates and spread. The rate source's poller replaces the table;
/// the switch reads it lock-free. Rates older than <see cref="MaxAge"/> are refused, not used.
/// </summary>
public sealed class ExchangeRates(decimal spread, TimeSpan? maxAge, TimeProvider time, RateTable? initial)
{
    private RateTable? _table = initial;

    /// <summary>Fraction of every converted amount the connector keeps (0 ≤ spread &lt; 1).</summary>
    public decimal Spread { get; } = spread is >= 0 and < 1 ? spread : throw new ArgumentOutOfRangeException(nameof(spread), "spread must be in [0, 1)");

    /// <summary>Fetched rates older than this are stale; null: never (configured rates only).</summary>
    public TimeSpan? MaxAge { get; } = maxAge;

    public RateTable? Current => Volatile.Read(ref _table);

    public void Update(RateTable table) => Volatile.Write(ref _table, table);

    /// <summary>The rate from one asset to another, or why there is none (with a message naming the values).</summary>
    public (ConversionRate Rate, QuoteProblem Problem, string Message) Quote(string codeIn, byte scaleIn, string codeOut, byte scaleOut)
    {
        var table = Current;
        if (table is null) return (default, QuoteProblem.NoRatesYet, "no exchange rates yet: the rate source has not answered since start");
        if (table.AsOf is { } asOf && MaxAge is { } limit && time.GetUtcNow() - asOf is var age && age > limit)
            return (default, QuoteProblem.Stale, $"exchange rates are stale: last good rates from {table.Origin} are {age.TotalSeconds:F0} s old (limit {limit.TotalSeconds:F0} s)");
        var rate = table.Rate(codeIn, scaleIn, codeOut, scaleOut, Spread);
        if (rate is null)
        {
            string missing = table.Values.ContainsKey(codeIn) ? codeOut : codeIn;
            return (default, QuoteProblem.NoRate, $"no exchange rate from {codeIn}/{scaleIn} to {codeOut}/{scaleOut}: {missing} has no rate in {table.Origin}");
        }
        return (rate.Value, QuoteProblem.None, "");
    }
}
