namespace M2M.Core.Diagnostics;

/// <summary>
/// Test-only switches of the process (RELIABILITY.md R03/R21, docs/operations-data.md), injected once at
/// start-up by the executable (<c>Program.cs</c> installs what the config loader read from the environment).
/// Core never reads the environment itself. Production never sets them: <see cref="None"/>.
/// </summary>
/// <param name="CrashPoint">M2M_CRASHPOINT: the named <see cref="Diagnostics.CrashPoint"/> kills the process.</param>
/// <param name="PausePoint">M2M_PAUSEPOINT: the named point prints "paused at name" and blocks forever.</param>
/// <param name="CrashSkip">M2M_CRASHPOINT_SKIP: the crash point passes this many times first.</param>
/// <param name="ExtraMigrationsDirectory">M2M_TEST_EXTRA_MIGRATIONS: DIR/&lt;store&gt;/NNNN_name.sql added to every store's migrations.</param>
/// <param name="SimulatedSchemaVersion">M2M_SIMULATE_SCHEMA_VERSION: behave as a release that knows migrations up to N.</param>
/// <param name="BenchNullLedger">M2M_BENCH_NULL_LEDGER=1: `run` books nothing (<see cref="Ledger.NullLedger"/>), for bench/compare.sh's no-ledger row.</param>
/// <param name="BenchLedgerHoldMs">M2M_BENCH_LEDGER_HOLD_MS: the SQLite ledger writer's hold of a batch nobody waits for (bench/compare.sh --env rows).</param>
/// <param name="BenchLedgerCoalesceMs">M2M_BENCH_LEDGER_COALESCE_MS: the SQLite ledger writer's coalescing window for a small batch a caller waits for.</param>
/// <param name="BenchLedgerRowsPerInsert">M2M_BENCH_LEDGER_ROWS_PER_INSERT: transfers the SQLite ledger's projection inserts per statement (1: one by one).</param>
/// <param name="BenchLedgerPragmas">M2M_BENCH_LEDGER_PRAGMAS: `name=integer` pairs separated by `;`, run on the SQLite ledger's writer connection after open.</param>
public sealed record TestSeams(
    string? CrashPoint = null,
    string? PausePoint = null,
    long CrashSkip = 0,
    string? ExtraMigrationsDirectory = null,
    int? SimulatedSchemaVersion = null,
    bool BenchNullLedger = false,
    int? BenchLedgerHoldMs = null,
    int? BenchLedgerCoalesceMs = null,
    string? BenchLedgerPragmas = null,
    int? BenchLedgerRowsPerInsert = null)
{
    public const string BenchLedgerRowsPerInsertVariable = "M2M_BENCH_LEDGER_ROWS_PER_INSERT";
    public const string BenchLedgerHoldMsVariable = "M2M_BENCH_LEDGER_HOLD_MS";
    public const string BenchLedgerCoalesceMsVariable = "M2M_BENCH_LEDGER_COALESCE_MS";
    public const string BenchLedgerPragmasVariable = "M2M_BENCH_LEDGER_PRAGMAS";
    public const string BenchNullLedgerVariable = "M2M_BENCH_NULL_LEDGER";
    public const string CrashPointVariable = "M2M_CRASHPOINT";
    public const string PausePointVariable = "M2M_PAUSEPOINT";
    public const string CrashSkipVariable = "M2M_CRASHPOINT_SKIP";

    public static TestSeams None { get; } = new();

    /// <summary>The seams in force; <see cref="None"/> until <see cref="Install"/>.</summary>
    public static TestSeams Current { get; private set; } = None;

    /// <summary>
    /// Sets the process's seams. Call it first thing at start-up: the migration seams are read when a store's
    /// migration set is first built (a static), the crash seams on every <see cref="Diagnostics.CrashPoint.Hit"/>.
    /// </summary>
    public static void Install(TestSeams seams)
    {
        ArgumentNullException.ThrowIfNull(seams);
        Current = seams;
        Diagnostics.CrashPoint.Configure(seams.CrashPoint, seams.PausePoint, seams.CrashSkip);
    }
}
