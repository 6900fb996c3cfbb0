using System.Runtime.InteropServices;

namespace M2M.Cli;

/// <summary>
/// Everything this process creates is private to its user: the ledger (and SQLite's -wal/-shm, which take
/// the database file's mode), settlement and channel stores, the wallet, backups and journals are created
/// 0600 and their directories 0700 (issue 13 item 9: they were 0644 / 0755). Set once, first thing in Main,
/// like PostgreSQL's umask 077; files an older release created keep their mode until an operator chmods them.
/// </summary>
internal static partial class PrivateFiles
{
    private const uint GroupAndOtherBits = 0x3F; // 077

    public static void Apply()
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) _ = Umask(GroupAndOtherBits);
    }

    [DllImport("libc", EntryPoint = "umask")]
    private static extern uint Umask(uint mask);
}
