using System.Globalization;
using Microsoft.Data.Sqlite;

namespace M2M.Wallets;

public sealed record WalletMigrationReport(
    string Path,
    string From,
    string To,
    bool DryRun,
    bool AlreadyAtTarget,
    int Agents,
    int WalletRowsWritten,
    IReadOnlyDictionary<string, int> AgentsByStatus,
    IReadOnlyDictionary<string, long> LegacyTableRows,
    string? BackupPath,
    string Message);

public sealed class WalletMigrationOptions
{
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Test hook: called inside the migration transaction after each agent's rows are written
    /// (argument: agents written so far). Throwing from it must leave the store at 1.0.</summary>
    internal Action<int>? AfterAgentWritten { get; init; }

    /// <summary>Where to show how many agents are migrated (a bar on a terminal, plain lines in logs); none by default.</summary>
    public M2M.Core.Progress.IWorkProgress? Progress { get; init; }
}

/// <summary>Migrates <c>agent-wallets.db</c> from the 1.0 (TypeScript) layout to 2.0. Backs the file up to
/// <c>&lt;path&gt;.backup-1.0-&lt;timestamp&gt;</c> (verified) first, then migrates in one transaction: creates the 2.0
/// tables, writes an evm and an xrp <c>wallets</c> row per agent (same index, addresses, created_at; status from
/// wallet_lifecycle, pending → active), writes schema_version 2. The 1.0 tables are left untouched so nothing is
/// lost (and a 1.x rollback can still read them). The 1.x sealed seed is not converted: open the migrated store
/// with the 1.x mnemonic (<see cref="WalletStoreOptions.ImportMnemonic"/>) to seal it under the 2.0 vault.</summary>
public static class WalletMigrator
{
    public static WalletMigrationReport Migrate(string path, string from, string to, bool dryRun, WalletMigrationOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        options ??= new WalletMigrationOptions();
        int fromV = WalletSchema.ParseLabel(from), toV = WalletSchema.ParseLabel(to);
        if (fromV != WalletSchema.V1 || toV != WalletSchema.V2)
            throw new WalletMigrationException($"unsupported wallet migration {WalletSchema.Label(fromV)} -> {WalletSchema.Label(toV)} (supported: 1.0 -> 2.0)");
        if (!File.Exists(path)) throw new WalletMigrationException($"wallet store not found: {path}");

        int current;
        List<LegacyAgent> agents;
        Dictionary<string, long> legacyRows;
        using (var ro = WalletSchema.OpenConnection(path, SqliteOpenMode.ReadOnly))
        {
            try { current = WalletSchema.DetectVersion(ro); }
            catch (WalletStoreException e) { throw new WalletMigrationException(e.Message, e); }
            if (current == WalletSchema.V2)
                return new WalletMigrationReport(path, "1.0", "2.0", dryRun, true, 0, 0, new Dictionary<string, int>(), new Dictionary<string, long>(), null,
                    "already at 2.0: nothing to do");
            if (current != WalletSchema.V1)
                throw new WalletMigrationException($"wallet store is {WalletSchema.Label(current)}, not 1.0: nothing to migrate");
            foreach (var t in WalletSchema.V1Tables.Take(1).Concat(["wallet_lifecycle"]))
                if (!WalletSchema.TableExists(ro, t)) throw new WalletMigrationException($"1.0 wallet store is missing table '{t}'");
            agents = ReadAgents(ro);
            legacyRows = WalletSchema.V1Tables.Where(t => WalletSchema.TableExists(ro, t)).ToDictionary(t => t, t => Count(ro, null, t));
        }

        var byStatus = agents.GroupBy(a => a.Status).ToDictionary(g => g.Key, g => g.Count());
        if (dryRun)
            return new WalletMigrationReport(path, "1.0", "2.0", true, false, agents.Count, agents.Count * 2, byStatus, legacyRows, null,
                $"dry run: would migrate {agents.Count} agents to {agents.Count * 2} wallets rows (1.0 -> 2.0); nothing written");

        var backup = Backup(path, options.TimeProvider, legacyRows["agent_wallets"]);

        using var db = WalletSchema.OpenConnection(path, SqliteOpenMode.ReadWrite);
        using (var tx = db.BeginTransaction())
        {
            // Re-check under the write lock: another process may have migrated in between.
            if (WalletSchema.TableExists(db, "schema_version", tx) || WalletSchema.TableExists(db, "wallets", tx))
                throw new WalletMigrationException("wallet store changed during migration (2.0 tables appeared); nothing written");
            WalletSchema.CreateV2(db, tx);
            var now = options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
            var written = 0;
            using var step = options.Progress?.Begin("migrate-wallet: agents", agents.Count, M2M.Core.Progress.WorkUnit.Items);
            foreach (var a in agents)
            {
                foreach (var (chain, address) in new[] { ("evm", a.Evm), ("xrp", a.Xrp) })
                {
                    using var ins = db.CreateCommand();
                    ins.Transaction = tx;
                    ins.CommandText = "INSERT INTO wallets (agent_id, derivation_index, chain, address, status, created_at, updated_at) VALUES ($a, $i, $c, $addr, $s, $ct, $ut)";
                    ins.Parameters.AddWithValue("$a", a.AgentId);
                    ins.Parameters.AddWithValue("$i", a.Index);
                    ins.Parameters.AddWithValue("$c", chain);
                    ins.Parameters.AddWithValue("$addr", address);
                    ins.Parameters.AddWithValue("$s", a.Status);
                    ins.Parameters.AddWithValue("$ct", a.CreatedAt);
                    ins.Parameters.AddWithValue("$ut", a.UpdatedAt);
                    ins.ExecuteNonQuery();
                }
                using (var audit = db.CreateCommand())
                {
                    audit.Transaction = tx;
                    audit.CommandText = "INSERT INTO wallet_audit (agent_id, action, at, detail) VALUES ($a, 'migrated', $t, $d)";
                    audit.Parameters.AddWithValue("$a", a.AgentId);
                    audit.Parameters.AddWithValue("$t", now);
                    audit.Parameters.AddWithValue("$d", $"from 1.0: index={a.Index} state={a.LegacyState} -> {a.Status}");
                    audit.ExecuteNonQuery();
                }
                written++;
                step?.Report(written);
                options.AfterAgentWritten?.Invoke(written);
                // Crash tests (M2M_PAUSEPOINT): stop here, half-way, with the transaction open and rows written.
                if (written == Math.Max(1, agents.Count / 2)) M2M.Core.Diagnostics.CrashPoint.Hit("wallet-migration-mid");
            }
            var rows = Count(db, tx, "wallets");
            if (rows != agents.Count * 2)
                throw new WalletMigrationException($"migration check failed: {rows} wallets rows for {agents.Count} agents; rolled back");
            tx.Commit();
            step?.Complete(written);
        }
        return new WalletMigrationReport(path, "1.0", "2.0", false, false, agents.Count, agents.Count * 2, byStatus, legacyRows, backup,
            $"migrated {agents.Count} agents to {agents.Count * 2} wallets rows (1.0 -> 2.0); backup: {backup}");
    }

    private sealed record LegacyAgent(string AgentId, int Index, string Evm, string Xrp, long CreatedAt, long UpdatedAt, string LegacyState, string Status);

    private static List<LegacyAgent> ReadAgents(SqliteConnection c)
    {
        var hasUpdatedAt = Columns(c, "wallet_lifecycle").Contains("updated_at");
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT w.agent_id, w.derivation_index, w.evm_address, w.xrp_address, w.created_at, l.state, " +
                          (hasUpdatedAt ? "l.updated_at" : "NULL") +
                          " FROM agent_wallets w LEFT JOIN wallet_lifecycle l ON l.agent_id = w.agent_id ORDER BY w.derivation_index";
        using var r = cmd.ExecuteReader();
        var list = new List<LegacyAgent>();
        while (r.Read())
        {
            var agent = r.GetString(0);
            if (r.IsDBNull(2) || r.IsDBNull(3) || r.IsDBNull(4))
                throw new WalletMigrationException($"1.0 agent '{agent}' has a missing address or created_at; nothing written");
            var state = r.IsDBNull(5) ? "active" : r.GetString(5);
            var status = state switch
            {
                "pending" or "active" => "active",
                "suspended" => "suspended",
                "archived" => "archived",
                _ => throw new WalletMigrationException($"1.0 agent '{agent}' has unknown lifecycle state '{state}'; nothing written"),
            };
            var created = r.GetInt64(4);
            var updated = r.IsDBNull(6) ? created : r.GetInt64(6);
            list.Add(new LegacyAgent(agent, r.GetInt32(1), r.GetString(2), r.GetString(3), created, updated, state, status));
        }
        return list;
    }

    private static HashSet<string> Columns(SqliteConnection c, string table)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"PRAGMA table_info(\"{table}\")";
        using var r = cmd.ExecuteReader();
        var set = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        while (r.Read()) set.Add(r.GetString(1));
        return set;
    }

    private static long Count(SqliteConnection c, SqliteTransaction? tx, string table)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = $"SELECT count(*) FROM \"{table}\"";
        return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    /// <summary>SQLite online backup to <c>&lt;path&gt;.backup-1.0-&lt;yyyyMMddTHHmmssfffZ&gt;</c>, then verified: the copy
    /// opens, passes integrity_check, is 1.0 and has the same agent_wallets count.</summary>
    private static string Backup(string path, TimeProvider time, long agentRows)
    {
        var stamp = time.GetUtcNow().UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'", CultureInfo.InvariantCulture);
        var backup = $"{path}.backup-1.0-{stamp}";
        if (File.Exists(backup)) throw new WalletMigrationException($"backup file already exists: {backup}");
        try
        {
            using (var src = WalletSchema.OpenConnection(path, SqliteOpenMode.ReadOnly))
            using (var dst = WalletSchema.OpenConnection(backup, SqliteOpenMode.ReadWriteCreate))
                src.BackupDatabase(dst);
            using var check = WalletSchema.OpenConnection(backup, SqliteOpenMode.ReadOnly);
            using (var cmd = check.CreateCommand())
            {
                cmd.CommandText = "PRAGMA integrity_check";
                var result = cmd.ExecuteScalar() as string;
                if (result != "ok") throw new WalletMigrationException($"backup {backup} failed integrity_check: {result}");
            }
            if (WalletSchema.DetectVersion(check) != WalletSchema.V1 || Count(check, null, "agent_wallets") != agentRows)
                throw new WalletMigrationException($"backup {backup} does not match the 1.0 store");
        }
        catch (Exception e) when (e is not WalletMigrationException)
        {
            throw new WalletMigrationException($"could not back up the wallet store to {backup}: {e.Message}; nothing migrated", e);
        }
        return backup;
    }
}
