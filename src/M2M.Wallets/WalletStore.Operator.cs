using System.Globalization;
using Microsoft.Data.Sqlite;

namespace M2M.Wallets;

/// <summary>One page of wallets, ordered by derivation index, and how many match the filter in all.</summary>
public sealed record WalletPage(IReadOnlyList<AgentWallet> Wallets, int Total, int Offset, int Limit);

/// <summary>The raw rows of a store, read in one transaction (a consistent snapshot) for backup.</summary>
internal sealed record WalletSnapshot(SealedSeed Vault, long VaultCreatedAt, IReadOnlyList<WalletRow> Wallets, IReadOnlyList<AuditRow> Audit);

internal sealed record WalletRow(string AgentId, int DerivationIndex, string Chain, string Address, string Status, long CreatedAt, long UpdatedAt);

internal sealed record AuditRow(long Id, string AgentId, string Action, long At, string? Detail);

// The operator entry points: `wallet init`, the connector's open, the API's paging, backup snapshots.
public sealed partial class WalletStore
{
    public const int MaxPageSize = 500;

    /// <summary>`wallet init`: creates the store with a new (or the imported) seed, or seals a store migrated from 1.0
    /// with its imported 1.x mnemonic. Refuses, before reading any password, when the store already holds a seed.</summary>
    public static WalletStore Init(string path, string password, string? importMnemonic, WalletStoreOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (File.Exists(path) && new FileInfo(path).Length > 0)
        {
            using (var ro = WalletSchema.OpenConnection(path, SqliteOpenMode.ReadOnly))
            {
                var version = WalletSchema.DetectVersion(ro);
                if (version == WalletSchema.V1)
                    throw new WalletStoreException($"wallet store {path} is at 1.0: run `m2m-connector migrate-wallet --from=1.0 --to=2.0` first");
                if (version == WalletSchema.V2 && ReadVault(ro) is not null)
                    throw new WalletStoreException($"wallet store {path} already holds a master seed; refusing to overwrite it (use `wallet restore --force` to replace a store)");
                if (version == WalletSchema.V2 && importMnemonic is null)
                    throw new WalletStoreException($"wallet store {path} was migrated from 1.0 and has no sealed seed: import the 1.x mnemonic with --import-mnemonic-file");
            }
        }
        var o = options ?? new WalletStoreOptions();
        return Open(path, password, new WalletStoreOptions { Iterations = o.Iterations, TimeProvider = o.TimeProvider, ImportMnemonic = importMnemonic });
    }

    /// <summary>Opens a store that must already exist with a sealed seed (the connector, backup): never creates one.</summary>
    public static WalletStore OpenExisting(string path, string password, WalletStoreOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path) || new FileInfo(path).Length == 0)
            throw new WalletStoreException($"wallet store {path} does not exist: create it with `m2m-connector wallet init`");
        return Open(path, password, options is null ? null : new WalletStoreOptions { Iterations = options.Iterations, TimeProvider = options.TimeProvider });
    }

    /// <summary>Agents ordered by derivation index, optionally only those in <paramref name="status"/>.</summary>
    public WalletPage Page(WalletStatus? status, int offset, int limit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, MaxPageSize);
        var filter = status is null ? "" : " AND status = $s";
        lock (_gate)
        {
            int total;
            using (var count = Cmd(null, "SELECT count(*) FROM wallets WHERE chain = 'evm'" + filter))
            {
                if (status is not null) count.Parameters.AddWithValue("$s", StatusName(status.Value));
                total = Convert.ToInt32(count.ExecuteScalar(), CultureInfo.InvariantCulture);
            }
            // One evm row per agent: page over those, then fetch both chains of the agents on the page.
            using var cmd = Cmd(null, "SELECT agent_id, derivation_index, chain, address, status, created_at, updated_at FROM wallets WHERE agent_id IN " +
                                      "(SELECT agent_id FROM wallets WHERE chain = 'evm'" + filter + " ORDER BY derivation_index LIMIT $l OFFSET $o) ORDER BY derivation_index, chain");
            if (status is not null) cmd.Parameters.AddWithValue("$s", StatusName(status.Value));
            cmd.Parameters.AddWithValue("$l", limit);
            cmd.Parameters.AddWithValue("$o", offset);
            return new WalletPage(Assemble(cmd), total, offset, limit);
        }
    }

    /// <summary>Re-derives every agent's addresses from the seed and compares them with the stored ones.
    /// Returns the number of agents checked; throws <see cref="WalletStoreException"/> naming the first mismatch.</summary>
    public int VerifyAddresses()
    {
        var all = List();
        foreach (var w in all)
        {
            var d = _vault.Derive(w.DerivationIndex);
            if (!string.Equals(d.EvmAddress, w.EvmAddress, StringComparison.Ordinal) || !string.Equals(d.XrpAddress, w.XrpAddress, StringComparison.Ordinal))
                throw new WalletStoreException($"agent '{w.AgentId}' (index {w.DerivationIndex}): stored addresses {w.EvmAddress} / {w.XrpAddress} " +
                                               $"are not what the seed derives ({d.EvmAddress} / {d.XrpAddress})");
        }
        return all.Count;
    }

    /// <summary>Vault, wallets and audit rows as stored, read in one transaction.</summary>
    internal WalletSnapshot Snapshot()
    {
        lock (_gate)
        {
            using var tx = _db.BeginTransaction(deferred: true);
            long vaultCreated;
            using (var v = Cmd(tx, "SELECT created_at FROM vault WHERE id = 1"))
                vaultCreated = Convert.ToInt64(v.ExecuteScalar() ?? throw new WalletStoreException("wallet store has no sealed seed"), CultureInfo.InvariantCulture);
            var vault = ReadVault(_db, tx) ?? throw new WalletStoreException("wallet store has no sealed seed");
            var wallets = new List<WalletRow>();
            using (var cmd = Cmd(tx, "SELECT agent_id, derivation_index, chain, address, status, created_at, updated_at FROM wallets ORDER BY derivation_index, chain"))
            using (var r = cmd.ExecuteReader())
                while (r.Read()) wallets.Add(new WalletRow(r.GetString(0), r.GetInt32(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetInt64(5), r.GetInt64(6)));
            var audit = new List<AuditRow>();
            using (var cmd = Cmd(tx, "SELECT id, agent_id, action, at, detail FROM wallet_audit ORDER BY id"))
            using (var r = cmd.ExecuteReader())
                while (r.Read()) audit.Add(new AuditRow(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetInt64(3), r.IsDBNull(4) ? null : r.GetString(4)));
            tx.Commit();
            return new WalletSnapshot(vault, vaultCreated, wallets, audit);
        }
    }

    /// <summary>Appends one audit row outside a lifecycle change (e.g. "restored").</summary>
    internal void AppendAudit(string agentId, string action, string? detail)
    {
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            Audit(tx, agentId, action, detail);
            tx.Commit();
        }
    }

    /// <summary>Writes a snapshot into a new, empty file as a 2.0 store (restore). The caller verifies it.</summary>
    internal static void WriteSnapshot(string path, WalletSnapshot s)
    {
        using var db = WalletSchema.OpenConnection(path, SqliteOpenMode.ReadWriteCreate);
        using var tx = db.BeginTransaction();
        WalletSchema.CreateV2(db, tx);
        Exec(db, tx, "INSERT INTO vault (id, kdf, iterations, salt, nonce, tag, ciphertext, created_at) VALUES (1, $k, $i, $s, $n, $t, $c, $at)",
            ("$k", s.Vault.Kdf), ("$i", s.Vault.Iterations), ("$s", s.Vault.Salt), ("$n", s.Vault.Nonce), ("$t", s.Vault.Tag), ("$c", s.Vault.Ciphertext), ("$at", s.VaultCreatedAt));
        foreach (var w in s.Wallets)
            Exec(db, tx, "INSERT INTO wallets (agent_id, derivation_index, chain, address, status, created_at, updated_at) VALUES ($a, $i, $c, $addr, $s, $ct, $ut)",
                ("$a", w.AgentId), ("$i", w.DerivationIndex), ("$c", w.Chain), ("$addr", w.Address), ("$s", w.Status), ("$ct", w.CreatedAt), ("$ut", w.UpdatedAt));
        foreach (var a in s.Audit)
            Exec(db, tx, "INSERT INTO wallet_audit (id, agent_id, action, at, detail) VALUES ($id, $a, $x, $t, $d)",
                ("$id", a.Id), ("$a", a.AgentId), ("$x", a.Action), ("$t", a.At), ("$d", (object?)a.Detail ?? DBNull.Value));
        tx.Commit();
    }

    private static void Exec(SqliteConnection db, SqliteTransaction tx, string sql, params (string Name, object Value)[] args)
    {
        using var cmd = db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        foreach (var (name, value) in args) cmd.Parameters.AddWithValue(name, value);
        cmd.ExecuteNonQuery();
    }
}
