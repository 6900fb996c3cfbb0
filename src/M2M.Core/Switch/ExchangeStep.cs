using M2M.Core.Ilp;

namespace M2M.Core.Switch;

/// <summary>
/// Converts the amount when the next hop's asset (code or scale) differs from the source's, before
/// the ledger reserves it (where ilp-connector's route builder applies the rate):
/// outgoing = floor(incoming × rate(in→out) × (1 − spread) × 10^(scaleOut − scaleIn)), exact rational
/// arithmetic, always rounded down so the connector never pays out more than it received.
/// Same asset and scale: untouched, no spread. Missing rate → F02; stale or no rates yet → T00;
/// a non-zero amount that converts to 0 → R01 (as interledger-rs; ilp-connector 23 forwards 0);
/// a result past UInt64 → F08 with the largest amount that converts, in the incoming packet's units.
/// </summary>
public sealed class ExchangeStep(SwitchOptions options, ExchangeRates rates, Func<string, PeerDescriptor?> peers) : IPacketStep
{
    public ValueTask<IlpReply> InvokeAsync(PacketContext context, PacketHandler next)
    {
        ulong amount = context.Prepare.Amount;
        if (amount == 0) return next(context);
        var source = context.Source;
        var destination = peers(context.NextHop!);
        // Not a peer: the ledger step answers that. Same asset: nothing to convert (the common case, no lookup).
        if (destination is null || (destination.AssetScale == source.AssetScale && destination.AssetCode == source.AssetCode)) return next(context);
        var (rate, problem, message) = rates.Quote(source.AssetCode, source.AssetScale, destination.AssetCode, destination.AssetScale);
        switch (problem)
        {
            case QuoteProblem.NoRate: return options.RejectAsync(RejectReason.NoExchangeRate, message);
            case QuoteProblem.Stale: return options.RejectAsync(RejectReason.RatesStale, message);
            case QuoteProblem.NoRatesYet: return options.RejectAsync(RejectReason.NoRatesYet, message);
        }
        if (!rate.TryConvert(amount, out ulong converted))
            return ValueTask.FromResult<IlpReply>(IlpRejects.AmountTooLarge(options.IlpAddress, amount, rate.MaxConvertible));
        if (converted == 0)
        {
            return options.RejectAsync(RejectReason.ConvertsToZero,
                $"{amount} {source.AssetCode}/{source.AssetScale} is worth less than one unit of {destination.AssetCode}/{destination.AssetScale} after the exchange rate and spread");
        }
        context.OutgoingAmount = converted;
        context.Converted = true;
        return next(context);
    }
}
