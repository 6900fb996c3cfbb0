using System.Collections.Concurrent;
using M2M.Core.Ledger;
using M2M.Core.Stream;
using M2M.Core.Switch;
using M2M.Server.Configuration;

namespace M2M.Server.Accounts;

/// <summary>Why a hosted account request was refused; the message is one line for the operator.</summary>
public sealed class HostedAccountException(string message, int status = 400) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>A hosted account's balance, as /admin/balances and the account API show it (decimal strings).</summary>
public sealed record HostedAccountView(string Id, string IlpAddress, string AssetCode, byte AssetScale, string Balance, string DebitsPending,
    DateTimeOffset CreatedAt);

/// <summary>
/// Hosted agent accounts: each is a row in <see cref="AccountStore"/> (id, asset, hashed API token),
/// a ledger account that may not go below zero, and the ILP address <c>&lt;our address&gt;.&lt;id&gt;</c>
/// whose packets <see cref="LocalDeliveryStep"/> answers with the STREAM <see cref="Receiver"/>.
/// </summary>
public sealed class HostedAccounts : IHostedAccountDirectory, IDisposable
{
    /// <summary>Longest account id: it is an ILP address segment and part of every payment pointer.</summary>
    public const int MaxIdLength = 64;

    private readonly ConnectorSettings _settings;
    private readonly ILedger _ledger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, HostedAccountInfo> _accounts = new(StringComparer.Ordinal);

    public HostedAccounts(ConnectorSettings settings, ILedger ledger, AccountStore store, TimeProvider time)
    {
        _settings = settings;
        _ledger = ledger;
        _time = time;
        Store = store;
        Receiver = new StreamReceiver(store.ServerSecret(), time);
        foreach (var a in store.List()) _accounts[a.Id] = new HostedAccountInfo(a.Id, a.AssetCode, a.AssetScale);
    }

    public AccountStore Store { get; }
    public StreamReceiver Receiver { get; }
    public IncomingPayments Incoming { get; } = new();

    public static string StorePath(ConnectorSettings settings) => Accounting.ConnectorSettlement.SiblingPath(settings, AccountStore.FileName);

    public bool TryGet(string accountId, out HostedAccountInfo? account) => _accounts.TryGetValue(accountId, out account);

    public string AddressOf(string accountId) => _settings.IlpAddress + "." + accountId;

    /// <summary>The asset of new accounts when none is given: the first peer's, else USD/9 (the peers' default).</summary>
    public (string Code, byte Scale) DefaultAsset => _settings.Peers.Count > 0 ? (_settings.Peers[0].AssetCode, _settings.Peers[0].AssetScale) : ("USD", (byte)9);

    /// <summary>Ledger accounts of the stored hosted accounts exist (a restore or a new ledger may lack them).</summary>
    public async Task PrepareAsync(CancellationToken ct)
    {
        var accounts = _accounts.Values.Select(a => PeerAccounts.HostedAccount(a.Id, a.AssetCode, a.AssetScale))
            .Concat(_accounts.Values.Select(a => PeerAccounts.ClearingAccount(a.AssetCode, a.AssetScale)).DistinctBy(a => a.Id)).ToList();
        if (accounts.Count > 0) await _ledger.CreateAccountsAsync(accounts, ct).ConfigureAwait(false);
    }

    /// <summary>Creates the account (idempotent): the token is returned only when this call created it.</summary>
    public async Task<(HostedAccountRecord Account, string? Token)> CreateAsync(string id, string? assetCode, byte? assetScale, CancellationToken ct)
    {
        ValidateId(id);
        var (code, scale) = (assetCode ?? DefaultAsset.Code, assetScale ?? DefaultAsset.Scale);
        if (code.Length is 0 or > 16) throw new HostedAccountException($"assetCode '{code}' is invalid; expected 1 to 16 characters");
        if (scale > 18) throw new HostedAccountException($"assetScale {scale} is invalid; expected 0 to 18");
        var ledgerAccount = PeerAccounts.HostedAccount(id, code, scale);
        var results = await _ledger.CreateAccountsAsync([ledgerAccount, PeerAccounts.ClearingAccount(code, scale)], ct).ConfigureAwait(false);
        if (results[0] is not (CreateAccountResult.Ok or CreateAccountResult.Exists))
            throw new HostedAccountException($"ledger refused account '{id}' ({results[0]})", 500);
        string? token = Store.TryCreate(id, code, scale, _time.GetUtcNow());
        var record = Store.Get(id)!;
        if (token is null && (record.AssetCode != code || record.AssetScale != scale) && (assetCode is not null || assetScale is not null))
            throw new HostedAccountException($"account '{id}' exists with asset {record.AssetCode}/{record.AssetScale}", 409);
        _accounts[id] = new HostedAccountInfo(id, record.AssetCode, record.AssetScale);
        return (record, token);
    }

    /// <summary>Removes the account (idempotent); refused while it holds money or has money in flight.</summary>
    public async Task<bool> DeleteAsync(string id, CancellationToken ct)
    {
        var record = Store.Get(id);
        if (record is null) return false;
        var view = await ViewAsync(record, ct).ConfigureAwait(false);
        if (view.Balance != "0" || view.DebitsPending != "0")
            throw new HostedAccountException($"account '{id}' holds {view.Balance} (pending out {view.DebitsPending}); pay it out before removing it", 409);
        _accounts.TryRemove(id, out _);
        return Store.Delete(id);
    }

    public async Task<HostedAccountView> ViewAsync(HostedAccountRecord record, CancellationToken ct)
    {
        var a = await _ledger.LookupAccountAsync(PeerAccounts.HostedAccount(record.Id, record.AssetCode, record.AssetScale).Id, ct).ConfigureAwait(false);
        return new HostedAccountView(record.Id, AddressOf(record.Id), record.AssetCode, record.AssetScale,
            (a?.PostedBalance ?? 0).ToString(), (a?.DebitsPending ?? 0).ToString(), record.CreatedAt);
    }

    public async Task<IReadOnlyList<HostedAccountView>> ListAsync(CancellationToken ct)
    {
        var list = new List<HostedAccountView>();
        foreach (var r in Store.List()) list.Add(await ViewAsync(r, ct).ConfigureAwait(false));
        return list;
    }

    /// <summary>/admin/balances rows for the hosted accounts, under their ids.</summary>
    public async Task<IReadOnlyList<PeerBalance>> BalancesAsync(CancellationToken ct)
    {
        var list = new List<PeerBalance>();
        foreach (var r in Store.List())
        {
            var a = await _ledger.LookupAccountAsync(PeerAccounts.HostedAccount(r.Id, r.AssetCode, r.AssetScale).Id, ct).ConfigureAwait(false);
            if (a is null) continue;
            list.Add(new PeerBalance(r.Id, r.AssetCode, r.AssetScale, a.PostedBalance.ToString(), a.DebitsPending.ToString(), a.CreditsPending.ToString(),
                a.DebitsPosted.ToString(), a.CreditsPosted.ToString(), "0"));
        }
        return list;
    }

    /// <summary>The switch's view of a hosted account when it sends.</summary>
    public static PeerDescriptor SourceOf(HostedAccountInfo account) =>
        new(PeerAccounts.HostedPeerId(account.Id), PeerRelation.Child, account.AssetCode, account.AssetScale, null);

    private void ValidateId(string id)
    {
        if (id.Length is 0 or > MaxIdLength || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '~' or '-'))
            throw new HostedAccountException($"account id '{Trim(id)}' is invalid; expected 1 to {MaxIdLength} characters of A-Z a-z 0-9 _ ~ -");
        if (_settings.Peers.Any(p => p.Id == id))
            throw new HostedAccountException($"account id '{id}' is a configured peer's id (its address {_settings.IlpAddress}.{id} would be ambiguous)", 409);
    }

    private static string Trim(string s) => s.Length > 70 ? s[..70] + "…" : s;

    public void Dispose()
    {
        Incoming.Dispose();
        Store.Dispose();
    }
}
