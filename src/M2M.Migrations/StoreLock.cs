using System.Runtime.InteropServices;

namespace M2M.Migrations;

/// <summary>Why a <see cref="StoreLock"/> could not be taken.</summary>
public enum StoreLockFailure
{
    /// <summary>Another process holds the store (its OS lock is taken).</summary>
    InUse,
    /// <summary>The store file or its directory cannot be written by this process (permissions, read-only file system).</summary>
    NotWritable,
}

/// <summary>One clear line for the operator; callers wrap it in their own error type.</summary>
public sealed class StoreLockException(string message, StoreLockFailure failure, Exception? inner = null) : Exception(message, inner)
{
    public StoreLockFailure Failure { get; } = failure;
}

/// <summary>
/// Ownership of a SQLite store by an OS lock held for as long as this object lives: an exclusive
/// <c>flock</c> on the database file itself, so no file's mere existence is the proof (deleting a
/// lock file used to let a second connector in; deleting the database is deleting the data). The
/// kernel drops the lock when the process dies, so a crash leaves nothing stale behind. flock locks
/// are independent of the POSIX byte-range locks SQLite takes on the same file (local file systems),
/// and they follow the inode: a file renamed over the path (restore) is a different lock.
/// Also taken: the <c>.lock</c> file beside it, which releases before this one only looked at.
/// Dispose only after every SQLite connection to the file in this process is closed (closing any
/// descriptor of a file drops the process's POSIX locks on it).
/// </summary>
public sealed class StoreLock : IDisposable
{
    private const int LockExclusive = 2, LockNonBlocking = 4; // <sys/file.h>, same on Linux and macOS
    private const int ErrnoWouldBlockLinux = 11, ErrnoWouldBlockMac = 35;
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const int Attempts = 3;

    private readonly FileStream _file;
    private readonly FileStream? _legacy;

    private StoreLock(string path, FileStream file, FileStream? legacy)
    {
        Path = path;
        _file = file;
        _legacy = legacy;
    }

    /// <summary>The full path of the locked store.</summary>
    public string Path { get; }

    /// <summary>
    /// Locks <paramref name="path"/> (creating an empty file, mode 0600, when missing) or throws
    /// <see cref="StoreLockException"/> naming the file and what to do. <paramref name="legacyLockFile"/>:
    /// also hold <c>PATH.lock</c>, so an older release started on the same store is refused too.
    /// </summary>
    public static StoreLock Acquire(string path, bool legacyLockFile = true)
    {
        string full = System.IO.Path.GetFullPath(path);
        EnsureDirectory(full);
        for (int attempt = 1; ; attempt++)
        {
            var file = Open(full);
            try
            {
                Lock(file, full);
                // Renamed over between our open and our lock (a restore): lock what the path names now.
                if (!StillNamedBy(file, full) && attempt < Attempts) { file.Dispose(); continue; }
                return new StoreLock(full, file, legacyLockFile || OperatingSystem.IsWindows() ? OpenLegacy(full) : null);
            }
            catch
            {
                file.Dispose();
                throw;
            }
        }
    }

    /// <summary>
    /// Creates the store's directory if needed and proves this process can create files in it (SQLite
    /// creates PATH-wal and PATH-shm there); throws <see cref="StoreLockException"/> (NotWritable) if not.
    /// Read-only checks of a WAL store fail in such a directory too, so run this before any of them.
    /// </summary>
    public static void CheckWritable(string path) => EnsureDirectory(System.IO.Path.GetFullPath(path));

    private static void EnsureDirectory(string full)
    {
        string dir = System.IO.Path.GetDirectoryName(full)!;
        try
        {
            if (OperatingSystem.IsWindows()) Directory.CreateDirectory(dir);
            else Directory.CreateDirectory(dir, OwnerOnly | UnixFileMode.UserExecute);
        }
        catch (UnauthorizedAccessException e)
        {
            throw NotWritable(dir, "its directory cannot be created", e);
        }
        // SQLite creates PATH-wal and PATH-shm beside the store: a directory we cannot write to fails
        // the first write, not the open, so find out now.
        string probe = $"{full}.probe-{Environment.ProcessId}";
        try
        {
            using (new FileStream(probe, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw NotWritable(dir, "SQLite must create its -wal and -shm files there, but the directory is not writable", e);
        }
    }

    private static FileStream Open(string full)
    {
        // Windows sharing modes are mandatory (SQLite could not open the file): there the .lock file is the lock.
        var share = OperatingSystem.IsWindows() ? FileShare.ReadWrite | FileShare.Delete : FileShare.None;
        var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = share, BufferSize = 0 };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = OwnerOnly;
        try
        {
            // FileShare.None: .NET itself takes flock(LOCK_EX|LOCK_NB) here; Lock() below makes it explicit.
            return new FileStream(full, options);
        }
        catch (UnauthorizedAccessException e)
        {
            throw NotWritable(full, "the file is not writable by this process", e);
        }
        catch (IOException e) when (e.HResult is ErrnoWouldBlockLinux or ErrnoWouldBlockMac || e.Message.Contains("being used by another process", StringComparison.Ordinal))
        {
            throw InUse(full, e);
        }
        catch (IOException e)
        {
            throw NotWritable(full, e.Message, e);
        }
    }

    private static void Lock(FileStream file, string full)
    {
        if (OperatingSystem.IsWindows()) return;
        if (flock((int)file.SafeFileHandle.DangerousGetHandle(), LockExclusive | LockNonBlocking) == 0) return;
        int errno = Marshal.GetLastPInvokeError();
        if (errno is ErrnoWouldBlockLinux or ErrnoWouldBlockMac) throw InUse(full, null);
        throw new StoreLockException($"{full}: cannot take the ownership lock (flock errno {errno}); is it on a network file system? Keep the data directory on a local disk.", StoreLockFailure.NotWritable);
    }

    /// <summary>Linux: the descriptor still names <paramref name="full"/> (not unlinked or replaced). Elsewhere: assumed.</summary>
    private static bool StillNamedBy(FileStream file, string full)
    {
        if (!OperatingSystem.IsLinux()) return true;
        string link = $"/proc/self/fd/{file.SafeFileHandle.DangerousGetHandle()}";
        return new FileInfo(link).LinkTarget is not { } target || target == full;
    }

    private static FileStream OpenLegacy(string full)
    {
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None, BufferSize = 0 };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = OwnerOnly;
            return new FileStream(full + ".lock", options);
        }
        catch (IOException e)
        {
            throw InUse(full, e, $" (an older release holds {full}.lock)");
        }
    }

    private static StoreLockException InUse(string full, Exception? inner, string detail = "") =>
        new($"{full} is in use by another connector process{detail} (or by restore, ledger import or migrate-wallet): only one may write it at a time; stop the other one first", StoreLockFailure.InUse, inner);

    private static StoreLockException NotWritable(string what, string why, Exception inner) =>
        new($"{what}: {why} ({inner.Message.TrimEnd('.')}); the connector needs read-write access to its data directory and files (check owner and mode)", StoreLockFailure.NotWritable, inner);

    public void Dispose()
    {
        _legacy?.Dispose();
        _file.Dispose();
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int flock(int fd, int operation);
}
