using System.Diagnostics;

namespace M2M.TestKit;

/// <summary>Ends a process the test started (by its own id) and anything it started; already gone is fine.</summary>
public static class ChildProcess
{
    public static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                Process.GetProcessById(process.Id).Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // already exited
        }
        catch (ArgumentException)
        {
            // no process with that id any more
        }
    }
}
