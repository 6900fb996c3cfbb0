using System.Net;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>
/// Fake Docker clients for the scripts' compose modes (no Docker engine on these machines): a
/// directory with a `docker` that has the v2 `compose` plugin or not, and/or a `docker-compose`
/// (v1). Each logs the command it got (plus IMAGE_TAG when set) to a file and succeeds. The rest
/// of PATH is a directory of links to every other program on this machine's PATH, so a real
/// docker-compose installed here (CI installs one) cannot be picked by accident.
/// </summary>
internal static class Shims
{
    public static string Create(string root, string name, string log, bool composeV2, bool composeV1)
    {
        string dir = Path.Combine(root, "shims-" + name);
        Directory.CreateDirectory(dir);
        string record = $"echo \"$0 $*${{IMAGE_TAG:+ IMAGE_TAG=$IMAGE_TAG}}\" | sed 's|^[^ ]*/||' >> '{log}'\n";
        Write(dir, "docker", "#!/usr/bin/env bash\n" + (composeV2
            ? "if [ \"$1 $2\" = 'compose version' ]; then echo 'Docker Compose version v2.29.1'; exit 0; fi\n" + record
            : "if [ \"$1\" = compose ]; then echo \"docker: 'compose' is not a docker command.\" >&2; exit 1; fi\n" + record));
        if (composeV1) Write(dir, "docker-compose", "#!/usr/bin/env bash\n" + record);
        return dir + ":" + SystemTools(root);
    }

    /// <summary>The lines logged since the last call (the log is emptied).</summary>
    public static string[] Take(string log)
    {
        if (!File.Exists(log)) return [];
        var lines = File.ReadAllLines(log);
        File.Delete(log);
        return lines;
    }

    private static string SystemTools(string root)
    {
        string dir = Path.Combine(root, "system-tools");
        if (Directory.Exists(dir)) return dir;
        Directory.CreateDirectory(dir);
        foreach (string pathDir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!Directory.Exists(pathDir)) continue;
            foreach (string file in Directory.EnumerateFiles(pathDir))
            {
                string name = Path.GetFileName(file);
                if (name is "docker" or "docker-compose" || File.Exists(Path.Combine(dir, name))) continue;
                File.CreateSymbolicLink(Path.Combine(dir, name), file);
            }
        }
        return dir;
    }

    private static void Write(string dir, string name, string text)
    {
        string path = Path.Combine(dir, name);
        File.WriteAllText(path, text);
        MakeExecutable(path);
    }

    /// <summary>RELEASES/TAG/m2m-connector: this executable behind a wrapper that first runs <paramref name="prelude"/> (a release of another schema, or a broken one).</summary>
    public static void WriteRelease(string releases, string tag, string prelude)
    {
        string dir = Path.Combine(releases, tag);
        Directory.CreateDirectory(dir);
        Write(dir, "m2m-connector", $"#!/usr/bin/env bash\n{prelude}exec dotnet {ScriptRunner.Dll} \"$@\"\n");
    }

    public static void MakeExecutable(string path)
    {
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }
}

/// <summary>An HTTP listener on 127.0.0.1 that answers every GET with 200 (the health of a fake compose deployment).</summary>
internal sealed class HealthStub : IDisposable
{
    private readonly HttpListener _listener;

    private HealthStub(HttpListener listener, string url)
    {
        _listener = listener;
        Url = url;
    }

    public string Url { get; }

    public static HealthStub Start()
    {
        int port = CliProcess.FreePort();
        var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var stub = new HealthStub(listener, $"http://127.0.0.1:{port}/health");
        _ = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                HttpListenerContext context;
                try { context = await listener.GetContextAsync(); }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException) { return; }
                context.Response.StatusCode = 200;
                context.Response.Close();
            }
        });
        return stub;
    }

    public void Dispose() => _listener.Close();
}
