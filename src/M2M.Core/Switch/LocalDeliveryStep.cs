using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Core.Stream;

namespace M2M.Core.Switch;

/// <summary>A hosted agent account as the switch sees it.</summary>
public sealed record HostedAccountInfo(string Id, string AssetCode, byte AssetScale);

/// <summary>The hosted accounts of this node (the host keeps them in its account store).</summary>
public interface IHostedAccountDirectory
{
    bool TryGet(string accountId, out HostedAccountInfo? account);
}

/// <summary>
/// Local delivery: a Prepare for <c>&lt;our address&gt;.&lt;account id&gt;.&lt;connection&gt;</c> of a hosted
/// account is answered here by the STREAM receiver instead of being routed. The money is posted
/// (source → clearing → hosted account, one linked chain, durable) before the Fulfill is returned:
/// T04 when the source would pass its credit limit, T00 when the ledger is down. Addresses under
/// ours that are not hosted accounts (child peers) go on to routing.
/// </summary>
public sealed class LocalDeliveryStep(SwitchOptions options, IHostedAccountDirectory accounts, StreamReceiver receiver, ILedger ledger,
    Action<StreamIncoming>? received = null) : IPacketStep
{
    /// <summary>
    /// Not async: a packet for another address (the forwarding case) passes straight on with no state
    /// machine, closure or string of this step's; only a hosted account's packet goes to <see cref="DeliverAsync"/>.
    /// </summary>
    public ValueTask<IlpReply> InvokeAsync(PacketContext context, PacketHandler next)
    {
        string destination = context.Prepare.Destination;
        string address = options.IlpAddress;
        // destination starts with "<our address>." (no concatenation per packet).
        if (destination.Length <= address.Length + 1 || destination[address.Length] != '.'
            || !destination.StartsWith(address, StringComparison.Ordinal)) return next(context);
        var rest = destination.AsSpan(address.Length + 1);
        int dot = rest.IndexOf('.');
        string accountId = (dot < 0 ? rest : rest[..dot]).ToString();
        if (!accounts.TryGet(accountId, out var account) || account is null) return next(context);
        return DeliverAsync(context, account, accountId, address + "." + accountId, dot < 0 ? null : rest[(dot + 1)..].ToString());
    }

    private async ValueTask<IlpReply> DeliverAsync(PacketContext context, HostedAccountInfo account, string accountId, string accountAddress, string? connection)
    {
        if (connection is null)
            return IlpRejects.Create(IlpErrorCode.F02_Unreachable, accountAddress, "a hosted account is paid by STREAM: ask its SPSP endpoint for a destination address");
        int more = connection.IndexOf('.');
        if (more >= 0) connection = connection[..more];
        return await receiver.HandleAsync(context.Prepare, accountId, connection, accountAddress, (account.AssetCode, account.AssetScale),
            amount => CreditAsync(context.Source, account, amount, accountAddress), received, context.CancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<IlpReject?> CreditAsync(PeerDescriptor source, HostedAccountInfo account, ulong amount, string triggeredBy)
    {
        uint ledgerId = PeerAccounts.LedgerFor(source.AssetCode, source.AssetScale);
        if (ledgerId != PeerAccounts.LedgerFor(account.AssetCode, account.AssetScale))
            return IlpRejects.Create(IlpErrorCode.F02_Unreachable, triggeredBy, $"no exchange rate from {source.AssetCode}/{source.AssetScale} to {account.AssetCode}/{account.AssetScale}");
        UInt128 clearing = PeerAccounts.ClearingAccountId(ledgerId);
        Transfer[] chain =
        [
            new() { Id = PeerAccounts.NewTransferId(), DebitAccountId = PeerAccounts.PeerAccountId(source.Id, ledgerId), CreditAccountId = clearing,
                Amount = amount, Ledger = ledgerId, Code = TransferIds.PacketCode, Flags = TransferFlags.Linked },
            new() { Id = PeerAccounts.NewTransferId(), DebitAccountId = clearing, CreditAccountId = PeerAccounts.PeerAccountId(PeerAccounts.HostedPeerId(account.Id), ledgerId),
                Amount = amount, Ledger = ledgerId, Code = TransferIds.PacketCode },
        ];
        IReadOnlyList<CreateTransferResult> results;
        try
        {
            results = await ledger.CreateTransfersAsync(chain, CancellationToken.None).ConfigureAwait(false);
        }
        catch (LedgerUnavailableException)
        {
            return IlpRejects.Create(IlpErrorCode.T00_InternalError, triggeredBy, "ledger unavailable: payment not accepted");
        }
        if (results.All(r => r.IsApplied())) return null;
        return results[0] == CreateTransferResult.ExceedsCredits
            ? IlpRejects.Create(IlpErrorCode.T04_InsufficientLiquidity, triggeredBy, $"'{source.Id}' would exceed its credit limit")
            : IlpRejects.Create(IlpErrorCode.T00_InternalError, triggeredBy, $"ledger refused the payment ({results[0]}, {results[1]})");
    }
}
