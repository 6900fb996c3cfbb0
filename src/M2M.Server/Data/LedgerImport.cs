using System.Globalization;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using M2M.Core.Ledger;
using M2M.Core.Progress;
using M2M.Server.Configuration;

namespace M2M.Server.Data;

/// <summary>One balance from a 1.x export: the peer's net position, credits minus debits (positive: we owe the peer).</summary>
public sealed record ImportedBalance(string PeerId, string Asset, byte Scale, BigInteger Balance);

/// <summary>
/// `ledger import FILE`: brings 1.x balances (TigerBeetle cannot run here) into the 2.0 ledger.
/// Formats (docs/operations-data.md): JSON <c>{"format":"m2m-balances/1","balances":[{"peerId","asset","scale","balance"}]}</c>
/// or CSV with the header <c>peer_id,asset,scale,balance</c>; balance is a signed integer string.
/// Each balance becomes one transfer between the asset's settlement (equity) account and the
/// peer's account, so Σ stays 0. The transfer id is a hash of the row's content: importing the
/// same file again finds every transfer already there and changes nothing.
/// </summary>
public static class LedgerImport
{
    public const ushort ImportTransferCode = TransferIds.ImportCode;
    public const string JsonFormat = "m2m-balances/1";

    /// <summary>Parses and checks the whole file; throws <see cref="BackupException"/> naming the first bad row.</summary>
    public static IReadOnlyList<ImportedBalance> Parse(string path)
    {
        if (!File.Exists(path)) throw new BackupException($"balances file {path} not found");
        string text = File.ReadAllText(path);
        var rows = path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) ? ParseCsv(text, path) : ParseJson(text, path);
        var dup = rows.GroupBy(r => (r.PeerId, r.Asset, r.Scale)).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new BackupException($"{path}: peer '{dup.Key.PeerId}' has more than one {dup.Key.Asset}/{dup.Key.Scale} balance");
        return rows;
    }

    private static List<ImportedBalance> ParseJson(string text, string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            if (!root.TryGetProperty("format", out var f) || f.GetString() != JsonFormat)
                throw new BackupException($"{path}: \"format\" must be \"{JsonFormat}\"");
            var list = new List<ImportedBalance>();
            int i = 0;
            foreach (var b in root.GetProperty("balances").EnumerateArray())
            {
                i++;
                list.Add(Row($"{path}: balances[{i - 1}]", Str(b, "peerId"), Str(b, "asset"), b.TryGetProperty("scale", out var s) ? s.ToString() : "", Str(b, "balance")));
            }
            return list;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new BackupException($"{path}: not a valid balances export: {e.Message}");
        }
    }

    private static string Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";

    private static List<ImportedBalance> ParseCsv(string text, string path)
    {
        var lines = text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        if (lines.Count == 0 || lines[0] != "peer_id,asset,scale,balance") throw new BackupException($"{path}: the first line must be the header peer_id,asset,scale,balance");
        var list = new List<ImportedBalance>();
        for (int i = 1; i < lines.Count; i++)
        {
            var cells = lines[i].Split(',');
            if (cells.Length != 4) throw new BackupException($"{path}: line {i + 1}: expected 4 columns, found {cells.Length}");
            list.Add(Row($"{path}: line {i + 1}", cells[0], cells[1], cells[2], cells[3]));
        }
        return list;
    }

    private static ImportedBalance Row(string where, string peer, string asset, string scale, string balance)
    {
        if (peer.Length == 0) throw new BackupException($"{where}: peer id is empty");
        if (asset.Length == 0) throw new BackupException($"{where}: asset is empty");
        if (!byte.TryParse(scale, NumberStyles.None, CultureInfo.InvariantCulture, out byte sc)) throw new BackupException($"{where}: scale '{scale}' is not 0..255");
        if (!BigInteger.TryParse(balance, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) || BigInteger.Abs(value) > (BigInteger)ulong.MaxValue)
            throw new BackupException($"{where}: balance '{balance}' is not an integer string within ±{ulong.MaxValue}");
        return new ImportedBalance(peer, asset, sc, value);
    }

    /// <summary>The transfer that brings one balance over; its id depends only on the row's content.</summary>
    public static Transfer TransferFor(ImportedBalance b)
    {
        var peer = PeerAccounts.PeerAccount(b.PeerId, b.Asset, b.Scale, null);
        var settlement = PeerAccounts.SettlementAccount(b.Asset, b.Scale);
        bool weOwe = b.Balance > 0;
        return new Transfer
        {
            Id = ContentId(b),
            DebitAccountId = weOwe ? settlement.Id : peer.Id,
            CreditAccountId = weOwe ? peer.Id : settlement.Id,
            Amount = (UInt128)(ulong)BigInteger.Abs(b.Balance),
            Ledger = peer.Ledger,
            Code = ImportTransferCode,
        };
    }

    private static UInt128 ContentId(ImportedBalance b)
    {
        byte[] h = SHA256.HashData(Encoding.UTF8.GetBytes($"m2m-ledger-import/1\n{b.PeerId}\n{b.Asset}\n{b.Scale}\n{b.Balance.ToString(CultureInfo.InvariantCulture)}"));
        var id = new UInt128(BitConverter.ToUInt64(h, 0), BitConverter.ToUInt64(h, 8));
        return id == UInt128.Zero ? 1 : id;
    }

    /// <summary>Creates the accounts and transfers; returns (imported, already present). Throws <see cref="BackupException"/> on a refused row.</summary>
    private const int ImportChunk = 1000;

    public static async Task<(int Imported, int Existing)> ApplyAsync(ILedger ledger, ConnectorSettings settings, IReadOnlyList<ImportedBalance> rows, Action<string> progress, CancellationToken ct = default, IWorkProgress? work = null)
    {
        var accounts = new List<Account>();
        foreach (var b in rows)
        {
            var peer = settings.Peers.FirstOrDefault(p => p.Id == b.PeerId);
            if (peer is not null && (peer.AssetCode != b.Asset || peer.AssetScale != b.Scale))
                throw new BackupException($"peer '{b.PeerId}' is configured with {peer.AssetCode}/{peer.AssetScale} but the file has {b.Asset}/{b.Scale}");
            accounts.Add(PeerAccounts.PeerAccount(b.PeerId, b.Asset, b.Scale, peer?.CreditLimit));
            accounts.Add(PeerAccounts.SettlementAccount(b.Asset, b.Scale));
        }
        accounts = accounts.DistinctBy(a => a.Id).ToList();
        var made = await ledger.CreateAccountsAsync(accounts, ct).ConfigureAwait(false);
        for (int i = 0; i < accounts.Count; i++)
            if (made[i] is not (CreateAccountResult.Ok or CreateAccountResult.Exists or CreateAccountResult.ExistsWithDifferentFields))
                throw new BackupException($"account {accounts[i].Name} could not be created: {made[i]}");
        var transfers = rows.Where(r => !r.Balance.IsZero).Select(TransferFor).ToList();
        // In chunks, so a large 1.x export shows progress (each chunk is one ledger call; ids are content-derived, so a rerun skips what landed).
        var results = new List<CreateTransferResult>(transfers.Count);
        using (var step = (work ?? new PlainProgress(progress)).Begin("import: balances", transfers.Count, WorkUnit.Items))
        {
            foreach (var chunk in transfers.Chunk(ImportChunk))
            {
                results.AddRange(await ledger.CreateTransfersAsync(chunk, ct).ConfigureAwait(false));
                step.Report(results.Count);
            }
            step.Complete(results.Count);
        }
        int imported = 0, existing = 0;
        var nonZero = rows.Where(r => !r.Balance.IsZero).ToList();
        for (int i = 0; i < transfers.Count; i++)
        {
            if (results[i] == CreateTransferResult.Ok) imported++;
            else if (results[i] == CreateTransferResult.Exists) existing++;
            else throw new BackupException($"balance {nonZero[i].Balance} of peer '{nonZero[i].PeerId}' was refused by the ledger: {results[i]} (the other rows were applied; fix this one and import again: applied rows are skipped)");
            progress($"import: {nonZero[i].PeerId} {nonZero[i].Asset}/{nonZero[i].Scale} {nonZero[i].Balance}: {(results[i] == CreateTransferResult.Ok ? "imported" : "already imported")}");
        }
        return (imported, existing);
    }
}
