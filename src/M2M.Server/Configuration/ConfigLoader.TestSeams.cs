using System.Globalization;
using M2M.Core.Diagnostics;
using M2M.Core.Migrations;

namespace M2M.Server.Configuration;

public sealed partial class ConfigLoader
{
    /// <summary>
    /// The test-only process switches (crash and pause points, migration simulations), read here so that
    /// nothing else reads the environment; the executable installs them with <see cref="TestSeams.Install"/>
    /// before any command runs. Unparsable numbers are ignored, as they always were: these are never set
    /// in production and never documented for operators.
    /// </summary>
    public TestSeams ReadTestSeams() => new(
        CrashPoint: Env(TestSeams.CrashPointVariable),
        PausePoint: Env(TestSeams.PausePointVariable),
        CrashSkip: long.TryParse(Env(TestSeams.CrashSkipVariable), NumberStyles.Integer, CultureInfo.InvariantCulture, out long skip) ? skip : 0,
        ExtraMigrationsDirectory: Env(MigrationSet.ExtraMigrationsVariable),
        SimulatedSchemaVersion: int.TryParse(Env(MigrationSet.SimulateVersionVariable), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= 1 ? n : null,
        BenchNullLedger: Env(TestSeams.BenchNullLedgerVariable) == "1",
        BenchLedgerHoldMs: Millis(TestSeams.BenchLedgerHoldMsVariable),
        BenchLedgerCoalesceMs: Millis(TestSeams.BenchLedgerCoalesceMsVariable),
        BenchLedgerPragmas: Env(TestSeams.BenchLedgerPragmasVariable),
        BenchLedgerRowsPerInsert: int.TryParse(Env(TestSeams.BenchLedgerRowsPerInsertVariable), NumberStyles.None, CultureInfo.InvariantCulture, out int rows) && rows is >= 1 and <= 256 ? rows : null);

    private int? Millis(string variable) =>
        int.TryParse(Env(variable), NumberStyles.None, CultureInfo.InvariantCulture, out int ms) && ms <= 1000 ? ms : null;
}
