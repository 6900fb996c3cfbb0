using Npgsql;

namespace M2M.Reliability.Tests;

/// <summary>Reads of a PostgreSQL ledger shared by a cluster of connector processes, used by the settlement exactly-once tests.</summary>
internal static class SharedLedgerQueries
{
    /// <summary>
    /// Until <paramref name="done"/> holds for what we owe the peer and no settlement reservation of it is open
    /// (read from the shared ledger only). False after 90 s: the caller's assertions then say what is wrong.
    /// </summary>
    public static async Task<bool> WaitSettledAsync(string url, string peer, Func<long, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            var (owed, _) = await BalancesAsync(url, peer);
            await using var conn = new NpgsqlConnection(url);
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand(
                "SELECT count(*) FROM transfers t JOIN accounts a ON a.id = t.debit_account_id WHERE a.name = $1 AND t.code = 2 AND t.flags & 2 = 2 AND t.state = 0", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = $"peer:{peer}:USD/9" });
            if (done(owed) && (long)(await cmd.ExecuteScalarAsync())! == 0) return true;
            await Task.Delay(200);
        }
        return false;
    }

    /// <summary>(what we still owe the peer, what the ledger booked as paid to it) from the shared ledger.</summary>
    public static async Task<(long Owed, long Booked)> BalancesAsync(string url, string peer)
    {
        await using var conn = new NpgsqlConnection(url);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            SELECT coalesce(sum(a.credits_posted - a.debits_posted), 0),
                   coalesce((SELECT sum(t.amount) FROM transfers t WHERE t.debit_account_id = a.id AND t.code = 2 AND ((t.flags & 14) = 0 OR (t.flags & 2 = 2 AND t.state = 1))), 0)
            FROM accounts a WHERE a.name = $1 GROUP BY a.id
            """, conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = $"peer:{peer}:USD/9" });
        await using var r = await cmd.ExecuteReaderAsync();
        Assert.True(await r.ReadAsync(), $"no ledger account for {peer}");
        return ((long)r.GetDecimal(0), (long)r.GetDecimal(1));
    }
}
