namespace M2M.Interop.Tests;

/// <summary>
/// Locates tests/interop (the Node.js peers built on ilp-plugin-btp) from the test binaries:
/// walk up from AppContext.BaseDirectory to the directory holding M2M.Connector.slnx.
/// </summary>
internal static class InteropEnvironment
{
    private static readonly Lazy<string> LazyDirectory = new(Locate);

    /// <summary>tests/interop, with node_modules installed; throws a clear message otherwise.</summary>
    public static string Directory => LazyDirectory.Value;

    public static string Script(string name)
    {
        var path = Path.Combine(Directory, name);
        if (!File.Exists(path)) throw new InvalidOperationException($"interop script not found: {path}");
        return path;
    }

    private static string Locate()
    {
        var interop = Path.Combine(M2M.TestKit.RepoPaths.Root, "tests", "interop");
        if (!File.Exists(Path.Combine(interop, "package.json")))
            throw new InvalidOperationException($"{interop}/package.json not found");
        if (!File.Exists(Path.Combine(interop, "node_modules", "ilp-plugin-btp", "package.json")))
            throw new InvalidOperationException($"ilp-plugin-btp is not installed: run `npm ci` in tests/interop ({interop})");
        return interop;
    }
}
