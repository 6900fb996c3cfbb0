using Npgsql;

namespace M2M.Ledger.Postgres;

/// <summary>
/// The embedded, idempotent migration run at open. It runs in one transaction under a
/// transaction-scoped advisory lock, so several connector processes opening the same database
/// at once do not race on CREATE TABLE. A database whose schema is newer than this code is refused.
/// </summary>
internal static class PostgresSchema
{
    public const int CurrentVersion = 1;

    // Arbitrary constant: "m2m-ledger" advisory lock key for migrations.
    private const long MigrationLockKey = 0x6d326d_6c6564;

    private const string VersionTable = """
        CREATE TABLE IF NOT EXISTS schema_version (
            version    INT PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        );
        """;

    // Version 1. Ids: UUID (16 big-endian bytes of the UInt128). Amounts: NUMERIC(39,0).
    // transfers.seq is the journal order; state is the pending state of pending transfers
    // (0 open, 1 posted, 2 voided, 3 expired), NULL for others. timeout_at: UTC ticks.
    private const string V1 = """
        CREATE TABLE IF NOT EXISTS accounts (
            id              UUID PRIMARY KEY,
            ledger          BIGINT NOT NULL,
            code            INT NOT NULL,
            flags           INT NOT NULL,
            debit_limit     NUMERIC(39,0) NOT NULL CHECK (debit_limit >= 0),
            name            TEXT NOT NULL,
            debits_pending  NUMERIC(39,0) NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
            debits_posted   NUMERIC(39,0) NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
            credits_pending NUMERIC(39,0) NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
            credits_posted  NUMERIC(39,0) NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
            created_at      TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE IF NOT EXISTS transfers (
            seq               BIGSERIAL NOT NULL UNIQUE,
            id                UUID PRIMARY KEY,
            debit_account_id  UUID NOT NULL REFERENCES accounts (id),
            credit_account_id UUID NOT NULL REFERENCES accounts (id),
            amount            NUMERIC(39,0) NOT NULL CHECK (amount >= 0),
            pending_id        UUID NULL,
            ledger            BIGINT NOT NULL,
            code              INT NOT NULL,
            flags             INT NOT NULL,
            timeout_at        BIGINT NULL,
            created_at        TIMESTAMPTZ NOT NULL,
            state             SMALLINT NULL CHECK (state BETWEEN 0 AND 3)
        );
        CREATE INDEX IF NOT EXISTS transfers_open_by_timeout ON transfers (timeout_at) WHERE state = 0;
        """;

    public static async Task MigrateAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
        await Exec(conn, tx, $"SELECT pg_advisory_xact_lock({MigrationLockKey})", ct).ConfigureAwait(false);
        await Exec(conn, tx, VersionTable, ct).ConfigureAwait(false);
        int version;
        await using (var cmd = new NpgsqlCommand("SELECT coalesce(max(version), 0) FROM schema_version", conn, tx))
            version = Convert.ToInt32(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false));
        if (version > CurrentVersion)
            throw new InvalidOperationException(
                $"The ledger database has schema version {version}, newer than this connector supports ({CurrentVersion}). Upgrade the connector; refusing to open.");
        if (version < 1)
        {
            await Exec(conn, tx, V1, ct).ConfigureAwait(false);
            await Exec(conn, tx, "INSERT INTO schema_version (version) VALUES (1) ON CONFLICT DO NOTHING", ct).ConfigureAwait(false);
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
    }

    private static async Task Exec(NpgsqlConnection conn, NpgsqlTransaction tx, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
