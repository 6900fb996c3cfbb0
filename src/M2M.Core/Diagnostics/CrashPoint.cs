namespace M2M.Core.Diagnostics;

/// <summary>
/// Named crash and pause points for the crash tests (RELIABILITY.md R03/R21), configured through
/// <see cref="TestSeams.Install"/> (the executable passes what the config loader read from the
/// environment; Core never reads it). Production never sets them, so each call is one null check.
/// <c>M2M_CRASHPOINT=name</c> kills the process (Environment.FailFast) when the point is reached;
/// <c>M2M_PAUSEPOINT=name</c> prints "paused at name" on stderr and blocks forever, so a test can
/// SIGKILL the process at exactly that moment. <c>M2M_CRASHPOINT_SKIP=n</c> lets the crash point
/// pass n times first, so a crash lands in the middle of a load rather than on its first packet.
/// </summary>
public static class CrashPoint
{
    private static string? Crash;
    private static string? Pause;
    private static long _skip;

    internal static void Configure(string? crash, string? pause, long skip)
    {
        Crash = crash;
        Pause = pause;
        Interlocked.Exchange(ref _skip, skip);
    }

    public static void Hit(string name)
    {
        if (Crash is not null && string.Equals(Crash, name, StringComparison.Ordinal) && Interlocked.Decrement(ref _skip) < 0)
        {
            Environment.FailFast($"crash point {name} reached (M2M_CRASHPOINT)");
        }
        if (Pause is not null && string.Equals(Pause, name, StringComparison.Ordinal))
        {
            Console.Error.WriteLine($"paused at {name}");
            Console.Error.Flush();
            Thread.Sleep(Timeout.Infinite);
        }
    }
}
