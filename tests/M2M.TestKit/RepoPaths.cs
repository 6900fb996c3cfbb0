namespace M2M.TestKit;

/// <summary>Where the repository is, seen from a test's output directory.</summary>
public static class RepoPaths
{
    /// <summary>The directory holding M2M.Connector.slnx, found by walking up from the test binaries.</summary>
    public static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "M2M.Connector.slnx"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException($"M2M.Connector.slnx not found above {AppContext.BaseDirectory}: cannot locate the repository");
        }
    }
}
