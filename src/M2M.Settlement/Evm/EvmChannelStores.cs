using System.Globalization;
using System.Numerics;
using M2M.Core.Migrations;
using M2M.Migrations;
using Microsoft.Data.Sqlite;

namespace M2M.Settlement.Evm;

/// <summary>One claim we signed (payer side) or accepted (receiver side).</summary>
public sealed record EvmStoredClaim(string PeerId, string ChannelId, BigInteger CumulativeWei, string Signature);

/// <summary>A small SQLite file (WAL, synchronous=FULL) shared by the EVM payer and receiver stores.</summary>
public abstract class EvmSqliteStore : IDisposable
{
    private protected readonly SqliteConnection Db;
    private protected readonly Lock Gate = new();

    private protected EvmSqliteStore(string path, MigrationSet migrations)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        Db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = full, Pooling = false }.ToString());
        Db.Open();
        using var cmd = Db.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;";
        cmd.ExecuteNonQuery();
        try
        {
            SqliteMigrator.Apply(Db, migrations, full);
        }
        catch
        {
            Db.Dispose();
            throw;
        }
    }

    private protected SqliteCommand Command(string sql, params (string Name, object? Value)[] args)
    {
        var cmd = Db.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (name, value) in args) cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return cmd;
    }

    private protected int CountRows(string table)
    {
        lock (Gate)
        {
            using var cmd = Command($"SELECT count(*) FROM {table}");
            return (int)(long)cmd.ExecuteScalar()!;
        }
    }

    private protected static string Wei(BigInteger value) => value.ToString(CultureInfo.InvariantCulture);

    private protected static BigInteger Wei(string value) => BigInteger.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture);

    public void Dispose()
    {
        Db.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>
/// Payer side, evm-channels.db: per peer the channel we opened and the cumulative wei signed so far,
/// and per settlement id the claim sent for it, so a resend of the same settlement re-sends the same claim.
/// </summary>
public sealed class EvmChannelStore : EvmSqliteStore
{
    /// <summary>The numbered migrations in Accounting/Migrations/evm-channels (embedded).</summary>
    public static readonly MigrationSet Migrations = MigrationSet.FromResources("evm-channels", typeof(EvmChannelStore).Assembly, "m2m.migrations.evm-channels.");

    private EvmChannelStore(string path)
        : base(path, Migrations)
    {
    }

    public static EvmChannelStore Open(string path) => new(path);

    /// <summary>Channels we opened to pay peers.</summary>
    public int ChannelCount() => CountRows("channels");

    /// <summary>The channel we pay this peer on and its cumulative signed amount, or null when none was opened.</summary>
    public (string ChannelId, BigInteger CumulativeWei)? Channel(string peerId)
    {
        lock (Gate)
        {
            using var cmd = Command("SELECT channel_id, cumulative_wei FROM channels WHERE peer_id = $p", ("$p", peerId));
            using var r = cmd.ExecuteReader();
            return r.Read() ? (r.GetString(0), Wei(r.GetString(1))) : null;
        }
    }

    /// <summary>Records a freshly opened channel (nothing signed on it yet).</summary>
    public void SetChannel(string peerId, string channelId)
    {
        lock (Gate)
        {
            using var cmd = Command("INSERT OR REPLACE INTO channels (peer_id, channel_id, cumulative_wei) VALUES ($p, $c, '0')", ("$p", peerId), ("$c", channelId));
            cmd.ExecuteNonQuery();
        }
    }

    public EvmStoredClaim? ClaimFor(Guid settlementId)
    {
        lock (Gate)
        {
            using var cmd = Command("SELECT peer_id, channel_id, cumulative_wei, signature FROM settlement_claims WHERE settlement_id = $s", ("$s", settlementId.ToString()));
            using var r = cmd.ExecuteReader();
            return r.Read() ? new EvmStoredClaim(r.GetString(0), r.GetString(1), Wei(r.GetString(2)), r.GetString(3)) : null;
        }
    }

    /// <summary>Raises the channel's cumulative amount and records the claim for the settlement, in one transaction.</summary>
    public void RecordClaim(Guid settlementId, EvmStoredClaim claim)
    {
        lock (Gate)
        {
            using var tx = Db.BeginTransaction();
            using (var up = Command("UPDATE channels SET cumulative_wei = $w WHERE peer_id = $p AND channel_id = $c", ("$w", Wei(claim.CumulativeWei)), ("$p", claim.PeerId), ("$c", claim.ChannelId)))
            {
                up.Transaction = tx;
                if (up.ExecuteNonQuery() != 1) throw new InvalidOperationException($"no channel {claim.ChannelId} recorded for peer '{claim.PeerId}'");
            }
            using (var ins = Command("INSERT INTO settlement_claims (settlement_id, peer_id, channel_id, cumulative_wei, signature) VALUES ($s, $p, $c, $w, $sig)",
                       ("$s", settlementId.ToString()), ("$p", claim.PeerId), ("$c", claim.ChannelId), ("$w", Wei(claim.CumulativeWei)), ("$sig", claim.Signature)))
            {
                ins.Transaction = tx;
                ins.ExecuteNonQuery();
            }
            tx.Commit();
        }
    }
}

/// <summary>Receiver side, evm-claims.db: the highest claim accepted per (peer, channel).</summary>
public sealed class EvmClaimStore : EvmSqliteStore
{
    /// <summary>The numbered migrations in Accounting/Migrations/evm-claims (embedded).</summary>
    public static readonly MigrationSet Migrations = MigrationSet.FromResources("evm-claims", typeof(EvmClaimStore).Assembly, "m2m.migrations.evm-claims.");

    private EvmClaimStore(string path)
        : base(path, Migrations)
    {
    }

    public static EvmClaimStore Open(string path) => new(path);

    /// <summary>Channels peers pay us on (one row per peer and channel with an accepted claim).</summary>
    public int ChannelCount() => CountRows("claims");

    public EvmStoredClaim? Latest(string peerId, string channelId)
    {
        lock (Gate)
        {
            using var cmd = Command("SELECT peer_id, channel_id, cumulative_wei, signature FROM claims WHERE peer_id = $p AND channel_id = $c", ("$p", peerId), ("$c", channelId.ToLowerInvariant()));
            using var r = cmd.ExecuteReader();
            return r.Read() ? new EvmStoredClaim(r.GetString(0), r.GetString(1), Wei(r.GetString(2)), r.GetString(3)) : null;
        }
    }

    /// <summary>The most recently accepted claim from the peer on any channel.</summary>
    public EvmStoredClaim? Latest(string peerId)
    {
        lock (Gate)
        {
            using var cmd = Command("SELECT peer_id, channel_id, cumulative_wei, signature FROM claims WHERE peer_id = $p ORDER BY updated_at DESC LIMIT 1", ("$p", peerId));
            using var r = cmd.ExecuteReader();
            return r.Read() ? new EvmStoredClaim(r.GetString(0), r.GetString(1), Wei(r.GetString(2)), r.GetString(3)) : null;
        }
    }

    public void Save(EvmStoredClaim claim, DateTimeOffset now)
    {
        lock (Gate)
        {
            using var cmd = Command("""
                INSERT INTO claims (peer_id, channel_id, cumulative_wei, signature, updated_at) VALUES ($p, $c, $w, $s, $t)
                ON CONFLICT (peer_id, channel_id) DO UPDATE SET cumulative_wei = $w, signature = $s, updated_at = $t
                """, ("$p", claim.PeerId), ("$c", claim.ChannelId.ToLowerInvariant()), ("$w", Wei(claim.CumulativeWei)), ("$s", claim.Signature), ("$t", now.ToUnixTimeMilliseconds()));
            cmd.ExecuteNonQuery();
        }
    }
}
