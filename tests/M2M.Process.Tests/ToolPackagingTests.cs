using System.Diagnostics;
using Xunit;
using M2M.TestKit;

namespace M2M.Process.Tests;

/// <summary>scripts/install-tool.sh packs the CLI as a .NET tool and installs it where an operator asked.</summary>
public class ToolPackagingTests
{
    [Fact]
    [Trait("Tier", "process")]
    public async Task Install_tool_puts_a_working_m2m_connector_into_the_tool_path()
    {
        string toolPath = Path.Combine(Path.GetTempPath(), $"m2m-tool-{Guid.NewGuid():N}");
        try
        {
            var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = CliProcess.RepoRoot() };
            info.ArgumentList.Add(Path.Combine(CliProcess.RepoRoot(), "scripts", "install-tool.sh"));
            info.ArgumentList.Add("--tool-path");
            info.ArgumentList.Add(toolPath);
            var (code, stdout, stderr) = await CliProcess.RunToEndAsync(info, TimeSpan.FromMinutes(10));
            Assert.True(code == 0, stdout + stderr);
            Assert.Contains("installed m2m-connector 2.0.0", stdout);

            var version = new ProcessStartInfo(Path.Combine(toolPath, "m2m-connector")) { RedirectStandardOutput = true, RedirectStandardError = true };
            version.ArgumentList.Add("version");
            var (vcode, vout, verr) = await CliProcess.RunToEndAsync(version, TimeSpan.FromSeconds(60));
            Assert.True(vcode == 0, verr);
            Assert.StartsWith("m2m-connector 2.0.0", vout);

            var usage = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
            usage.ArgumentList.Add(Path.Combine(CliProcess.RepoRoot(), "scripts", "install-tool.sh"));
            usage.ArgumentList.Add("--tool-path");
            var (ucode, _, uerr) = await CliProcess.RunToEndAsync(usage, TimeSpan.FromSeconds(30));
            Assert.Equal(2, ucode);
            Assert.Contains("usage:", uerr);
        }
        finally
        {
            if (Directory.Exists(toolPath)) Directory.Delete(toolPath, recursive: true);
        }
    }
}
