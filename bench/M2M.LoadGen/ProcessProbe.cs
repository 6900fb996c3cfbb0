using System.Globalization;

namespace M2M.LoadGen;

/// <summary>CPU time and memory of another process, from /proc (Linux).</summary>
public static class ProcessProbe
{
    /// <summary>Kernel clock ticks per second for /proc/&lt;pid&gt;/stat times (USER_HZ, 100 on Linux).</summary>
    private const double ClockTicksPerSecond = 100;

    /// <summary>utime + stime in seconds, or null when the process is gone.</summary>
    public static double? CpuSeconds(int pid)
    {
        string? stat = ReadOrNull($"/proc/{pid}/stat");
        if (stat is null) return null;
        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / ClockTicksPerSecond;
    }

    /// <summary>(VmRSS, VmHWM) in KiB, or null when the process is gone.</summary>
    public static (long RssKb, long HwmKb)? Memory(int pid)
    {
        string? status = ReadOrNull($"/proc/{pid}/status");
        if (status is null) return null;
        long rss = 0, hwm = 0;
        foreach (var line in status.Split('\n'))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = Kb(line);
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) hwm = Kb(line);
        }
        return (rss, hwm);
    }

    /// <summary>The 1/5/15-minute load averages, recorded with every figure (the machine is shared).</summary>
    public static string LoadAverage() => ReadOrNull("/proc/loadavg") is { } s ? string.Join(' ', s.Split(' ').Take(3)) : "n/a";

    private static long Kb(string line) => long.Parse(line.Split(':', 2)[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture);

    private static string? ReadOrNull(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
