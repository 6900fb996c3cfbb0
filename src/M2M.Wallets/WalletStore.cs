using System.Globalization;
using Microsoft.Data.Sqlite;

namespace M2M.Wallets;

public enum WalletStatus { Active, Suspended, Archived }

/// <summary>One agent's wallet: the same derivation index on both chains, one lifecycle status.</summary>
public sealed record AgentWallet(
    string AgentId, int DerivationIndex, string EvmAddress, string XrpAddress, WalletStatus Status,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

public sealed record WalletAuditEntry(long Id, string AgentId, string Action, DateTimeOffset At, string? Detail);

/// <summary>Told of every change to a wallet after it is committed (the connector's Explorer listens): must not block nor throw.</summary>
public interface IWalletObserver
{
    /// <summary><paramref name="action"/>: created, suspended, reactivated or archived (the audit trail's action); <paramref name="detail"/>: its audit detail.</summary>
    void WalletChanged(string action, AgentWallet wallet, string? detail);
}

public sealed class WalletStoreOptions
{
    /// <summary>PBKDF2-SHA256 iterations used when (re)sealing the seed. Existing vaults keep their stored count.</summary>
    public int Iterations { get; init; } = WalletSeedVault.DefaultIterations;

    /// <summary>Import this BIP-39 mnemonic instead of generating one: for a new store, or for a store migrated
    /// from 1.0 (which has no 2.0 vault yet; every migrated address is checked against it).</summary>
    public string? ImportMnemonic { get; init; }

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

/// <summary>The 2.0 agent wallet store (<c>agent-wallets.db</c>): sealed seed, per-agent EVM + XRP wallets,
/// lifecycle active ⇄ suspended → archived, every change audited in the same transaction.</summary>
public sealed partial class WalletStore : IDisposable
{
    private readonly SqliteConnection _db;
    private readonly WalletSeedVault _vault;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();

    public string Path { get; }

    /// <summary>Told of every committed change (create, suspend, reactivate, archive); null: nobody.</summary>
    public IWalletObserver? Observer { get; set; }

    private WalletStore(string path, SqliteConnection db, WalletSeedVault vault, TimeProvider time)
    {
        Path = path; _db = db; _vault = vault; _time = time;
    }

    /// <summary>Opens (or creates) the store. A wrong password throws <see cref="WalletPasswordException"/>
    /// before anything is written. A 1.0 store is refused: migrate it first.</summary>
    public static WalletStore Open(string path, string password, WalletStoreOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (string.IsNullOrEmpty(password)) throw new ArgumentException("wallet password must not be empty", nameof(password));
        options ??= new WalletStoreOptions();
        var imported = options.ImportMnemonic is null ? null : WalletSeedVault.ParseMnemonic(options.ImportMnemonic);

        // Phase 1, read-only: version, vault, password. Nothing is written before the password is proven.
        var version = WalletSchema.Empty;
        SealedSeed? sealedSeed = null;
        if (File.Exists(path) && new FileInfo(path).Length > 0)
        {
            using var ro = WalletSchema.OpenConnection(path, SqliteOpenMode.ReadOnly);
            version = WalletSchema.DetectVersion(ro);
            if (version == WalletSchema.V1)
                throw new WalletStoreException("wallet store is at 1.0: run `m2m-connector migrate-wallet --from=1.0 --to=2.0` first");
            if (version == WalletSchema.V2) sealedSeed = ReadVault(ro);
        }

        WalletSeedVault vault;
        if (sealedSeed is not null)
        {
            vault = WalletSeedVault.Unseal(sealedSeed, password);
            if (imported is not null && !string.Equals(imported.ToString(), vault.RevealMnemonic(), StringComparison.Ordinal))
            {
                vault.Dispose();
                throw new WalletStoreException("the wallet store already holds a different seed; refusing to import another mnemonic");
            }
        }
        else
        {
            vault = WalletSeedVault.FromMnemonic(imported ?? WalletSeedVault.GenerateMnemonic());
        }

        SqliteConnection? db = null;
        try
        {
            if (version == WalletSchema.Empty)
            {
                var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
                if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            }
            db = WalletSchema.OpenConnection(path, SqliteOpenMode.ReadWriteCreate);
            var store = new WalletStore(path, db, vault, options.TimeProvider);
            if (version == WalletSchema.Empty)
            {
                store.Initialize(password, options.Iterations);
                WalletSchema.RestrictToOwner(path);
            }
            else if (sealedSeed is null) store.SealMigrated(password, options.Iterations, imported is not null);
            return store;
        }
        catch
        {
            db?.Dispose();
            vault.Dispose();
            throw;
        }
    }

    private void Initialize(string password, int iterations)
    {
        var sealedSeed = _vault.Seal(password, iterations);
        using var tx = _db.BeginTransaction();
        WalletSchema.CreateV2(_db, tx);
        WriteVault(tx, sealedSeed);
        Audit(tx, "*", "vault-created", $"kdf={sealedSeed.Kdf} iterations={sealedSeed.Iterations}");
        tx.Commit();
    }

    private void SealMigrated(string password, int iterations, bool imported)
    {
        if (!imported)
            throw new WalletStoreException("the wallet store has no sealed seed (migrated from 1.0): seal it once with the 1.x mnemonic: `m2m-connector wallet init --import-mnemonic-file FILE`");
        foreach (var w in List())
        {
            var d = _vault.Derive(w.DerivationIndex);
            if (!string.Equals(d.EvmAddress, w.EvmAddress, StringComparison.OrdinalIgnoreCase) || d.XrpAddress != w.XrpAddress)
                throw new WalletStoreException($"the imported mnemonic does not derive the stored addresses (agent '{w.AgentId}', index {w.DerivationIndex}); nothing was written");
        }
        var sealedSeed = _vault.Seal(password, iterations);
        using var tx = _db.BeginTransaction();
        WriteVault(tx, sealedSeed);
        Audit(tx, "*", "vault-sealed", $"imported mnemonic verified; kdf={sealedSeed.Kdf} iterations={sealedSeed.Iterations}");
        tx.Commit();
    }

    /// <summary>Creates the agent's EVM and XRP wallets at the next derivation index. Idempotent: an existing
    /// agent's wallet is returned unchanged (whatever its status).</summary>
    public Task<AgentWallet> CreateAsync(string agentId, CancellationToken cancellationToken = default)
    {
        CheckAgentId(agentId);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            var existing = Get(agentId, tx);
            if (existing is not null) return Task.FromResult(existing);
            long next;
            using (var cmd = Cmd(tx, "SELECT coalesce(max(derivation_index) + 1, 0) FROM wallets"))
                next = Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
            if (next > WalletDerivation.MaxIndex) throw new WalletStoreException("derivation index space exhausted");
            var index = (int)next;
            var d = _vault.Derive(index);
            var now = NowMs();
            foreach (var (chain, address) in new[] { ("evm", d.EvmAddress), ("xrp", d.XrpAddress) })
            {
                using var ins = Cmd(tx, "INSERT INTO wallets (agent_id, derivation_index, chain, address, status, created_at, updated_at) VALUES ($a, $i, $c, $addr, 'active', $t, $t)");
                ins.Parameters.AddWithValue("$a", agentId);
                ins.Parameters.AddWithValue("$i", index);
                ins.Parameters.AddWithValue("$c", chain);
                ins.Parameters.AddWithValue("$addr", address);
                ins.Parameters.AddWithValue("$t", now);
                ins.ExecuteNonQuery();
            }
            string detail = $"index={index} evm={d.EvmAddress} xrp={d.XrpAddress}";
            Audit(tx, agentId, "created", detail);
            tx.Commit();
            var at = DateTimeOffset.FromUnixTimeMilliseconds(now);
            var created = new AgentWallet(agentId, index, d.EvmAddress, d.XrpAddress, WalletStatus.Active, at, at);
            Observer?.WalletChanged("created", created, detail);
            return Task.FromResult(created);
        }
    }

    public AgentWallet? Get(string agentId)
    {
        lock (_gate) return Get(agentId, null);
    }

    public IReadOnlyList<AgentWallet> List(WalletStatus? status = null)
    {
        lock (_gate)
        {
            using var cmd = Cmd(null, "SELECT agent_id, derivation_index, chain, address, status, created_at, updated_at FROM wallets" +
                                      (status is null ? "" : " WHERE status = $s") + " ORDER BY derivation_index, chain");
            if (status is not null) cmd.Parameters.AddWithValue("$s", StatusName(status.Value));
            return Assemble(cmd);
        }
    }

    public IReadOnlyList<WalletAuditEntry> AuditTrail(string? agentId = null)
    {
        lock (_gate)
        {
            using var cmd = Cmd(null, "SELECT id, agent_id, action, at, detail FROM wallet_audit" + (agentId is null ? "" : " WHERE agent_id = $a") + " ORDER BY id");
            if (agentId is not null) cmd.Parameters.AddWithValue("$a", agentId);
            using var r = cmd.ExecuteReader();
            var list = new List<WalletAuditEntry>();
            while (r.Read())
                list.Add(new WalletAuditEntry(r.GetInt64(0), r.GetString(1), r.GetString(2), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3)), r.IsDBNull(4) ? null : r.GetString(4)));
            return list;
        }
    }

    /// <summary>active → suspended.</summary>
    public AgentWallet Suspend(string agentId, string? reason = null) => Transition(agentId, "suspended", WalletStatus.Suspended, reason);

    /// <summary>suspended → active. An archived wallet cannot be reactivated.</summary>
    public AgentWallet Reactivate(string agentId, string? reason = null) => Transition(agentId, "reactivated", WalletStatus.Active, reason);

    /// <summary>active | suspended → archived (final).</summary>
    public AgentWallet Archive(string agentId, string? reason = null) => Transition(agentId, "archived", WalletStatus.Archived, reason);

    /// <summary>The mnemonic words, for an explicit backup export only. Never log the result.</summary>
    public string ExportMnemonic() => _vault.RevealMnemonic();

    private AgentWallet Transition(string agentId, string action, WalletStatus to, string? reason)
    {
        CheckAgentId(agentId);
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            var w = Get(agentId, tx) ?? throw new WalletNotFoundException(agentId);
            var from = w.Status;
            if (from == to)
                throw new WalletTransitionException($"wallet '{agentId}' is already {StatusName(to)}");
            if (from == WalletStatus.Archived)
                throw new WalletTransitionException($"wallet '{agentId}' is archived: archived → {StatusName(to)} is not allowed (archiving is final)");
            var now = NowMs();
            using (var upd = Cmd(tx, "UPDATE wallets SET status = $s, updated_at = $t WHERE agent_id = $a"))
            {
                upd.Parameters.AddWithValue("$s", StatusName(to));
                upd.Parameters.AddWithValue("$t", now);
                upd.Parameters.AddWithValue("$a", agentId);
                upd.ExecuteNonQuery();
            }
            string detail = $"{StatusName(from)} -> {StatusName(to)}" + (string.IsNullOrWhiteSpace(reason) ? "" : $"; reason: {reason}");
            Audit(tx, agentId, action, detail);
            tx.Commit();
            var changed = w with { Status = to, UpdatedAt = DateTimeOffset.FromUnixTimeMilliseconds(now) };
            Observer?.WalletChanged(action, changed, detail);
            return changed;
        }
    }

    private AgentWallet? Get(string agentId, SqliteTransaction? tx)
    {
        using var cmd = Cmd(tx, "SELECT agent_id, derivation_index, chain, address, status, created_at, updated_at FROM wallets WHERE agent_id = $a");
        cmd.Parameters.AddWithValue("$a", agentId);
        return Assemble(cmd).SingleOrDefault();
    }

    private static List<AgentWallet> Assemble(SqliteCommand cmd)
    {
        var byAgent = new Dictionary<string, (int Index, string? Evm, string? Xrp, string Status, long Created, long Updated)>(StringComparer.Ordinal);
        var order = new List<string>();
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                var agent = r.GetString(0);
                if (!byAgent.TryGetValue(agent, out var e))
                {
                    e = (r.GetInt32(1), null, null, r.GetString(4), r.GetInt64(5), r.GetInt64(6));
                    order.Add(agent);
                }
                if (r.GetString(2) == "evm") e.Evm = r.GetString(3); else e.Xrp = r.GetString(3);
                e.Updated = Math.Max(e.Updated, r.GetInt64(6));
                byAgent[agent] = e;
            }
        }
        return order.Select(a =>
        {
            var e = byAgent[a];
            return new AgentWallet(a, e.Index, e.Evm ?? "", e.Xrp ?? "", ParseStatus(e.Status),
                DateTimeOffset.FromUnixTimeMilliseconds(e.Created), DateTimeOffset.FromUnixTimeMilliseconds(e.Updated));
        }).ToList();
    }

    internal static string StatusName(WalletStatus s) => s switch
    {
        WalletStatus.Active => "active",
        WalletStatus.Suspended => "suspended",
        WalletStatus.Archived => "archived",
        _ => throw new ArgumentOutOfRangeException(nameof(s)),
    };

    internal static WalletStatus ParseStatus(string s) => s switch
    {
        "active" => WalletStatus.Active,
        "suspended" => WalletStatus.Suspended,
        "archived" => WalletStatus.Archived,
        _ => throw new WalletStoreException($"unknown wallet status '{s}'"),
    };

    internal static SealedSeed? ReadVault(SqliteConnection c, SqliteTransaction? tx = null)
    {
        if (!WalletSchema.TableExists(c, "vault", tx)) return null;
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "SELECT kdf, iterations, salt, nonce, tag, ciphertext FROM vault WHERE id = 1";
        using var r = cmd.ExecuteReader();
        if (!r.Read()) return null;
        return new SealedSeed(r.GetString(0), r.GetInt32(1), (byte[])r[2], (byte[])r[3], (byte[])r[4], (byte[])r[5]);
    }

    internal void WriteVault(SqliteTransaction tx, SealedSeed s)
    {
        using var cmd = Cmd(tx, "INSERT INTO vault (id, kdf, iterations, salt, nonce, tag, ciphertext, created_at) VALUES (1, $k, $i, $s, $n, $t, $c, $at)");
        cmd.Parameters.AddWithValue("$k", s.Kdf);
        cmd.Parameters.AddWithValue("$i", s.Iterations);
        cmd.Parameters.AddWithValue("$s", s.Salt);
        cmd.Parameters.AddWithValue("$n", s.Nonce);
        cmd.Parameters.AddWithValue("$t", s.Tag);
        cmd.Parameters.AddWithValue("$c", s.Ciphertext);
        cmd.Parameters.AddWithValue("$at", NowMs());
        cmd.ExecuteNonQuery();
    }

    private void Audit(SqliteTransaction tx, string agentId, string action, string? detail)
    {
        using var cmd = Cmd(tx, "INSERT INTO wallet_audit (agent_id, action, at, detail) VALUES ($a, $x, $t, $d)");
        cmd.Parameters.AddWithValue("$a", agentId);
        cmd.Parameters.AddWithValue("$x", action);
        cmd.Parameters.AddWithValue("$t", NowMs());
        cmd.Parameters.AddWithValue("$d", (object?)detail ?? DBNull.Value);
        cmd.ExecuteNonQuery();
    }

    internal SqliteCommand Cmd(SqliteTransaction? tx, string sql)
    {
        var cmd = _db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        return cmd;
    }

    private long NowMs() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    internal static void CheckAgentId(string agentId)
    {
        if (string.IsNullOrWhiteSpace(agentId)) throw new ArgumentException("agent id must not be empty", nameof(agentId));
        if (agentId.Length > 256 || agentId != agentId.Trim()) throw new ArgumentException("agent id must be at most 256 characters with no surrounding whitespace", nameof(agentId));
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _db.Dispose();
            _vault.Dispose();
        }
    }

    public override string ToString() => $"WalletStore({Path})";
}
