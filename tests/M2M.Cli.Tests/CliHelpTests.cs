using System.CommandLine;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Xunit;
using M2M.TestKit;

namespace M2M.Cli.Tests;

/// <summary>--help examples on every command (each one parses), and shell completion through the real binary.</summary>
public partial class CliHelpTests
{
    private static IEnumerable<(string Path, Command Command)> Walk(Command c, string path = "")
    {
        yield return (path, c);
        foreach (var sub in c.Subcommands)
            foreach (var x in Walk(sub, path.Length == 0 ? sub.Name : path + " " + sub.Name)) yield return x;
    }

    [Fact]
    [Trait("Tier", "unit")]
    public void Every_command_shows_examples_in_its_help()
    {
        var commands = Walk(CliRoot.Build()).ToList();
        Assert.True(commands.Count > 15, $"only {commands.Count} commands found");
        var without = commands.Where(c => c.Command.Description?.Contains("\n\nExamples:\n  ", StringComparison.Ordinal) != true).Select(c => c.Path).ToList();
        Assert.True(without.Count == 0, "commands without examples: " + string.Join(", ", without));
    }

    [Fact]
    [Trait("Tier", "unit")]
    public void Every_example_parses_without_errors()
    {
        int checkedLines = 0;
        foreach (var (path, lines) in HelpExamples.All)
        {
            foreach (string line in lines)
            {
                if (line.Contains('<', StringComparison.Ordinal) && line.Contains("<command>", StringComparison.Ordinal)) continue;
                var words = Words(line);
                Assert.Equal("m2m-connector", words[0]);
                var result = CliRoot.Build().Parse(words.Skip(1).ToArray());
                Assert.True(result.Errors.Count == 0, $"'{line}' (help of '{path}'): {string.Join("; ", result.Errors.Select(e => e.Message))}");
                var pathWords = path.Length == 0 ? [] : path.Split(' ');
                Assert.True(words.Skip(1).Take(pathWords.Length).SequenceEqual(pathWords), $"'{line}' is shown in the help of '{path}' but runs another command");
                checkedLines++;
            }
        }
        Assert.True(checkedLines > 30, $"only {checkedLines} examples");
    }

    /// <summary>The words a shell would pass: leading VAR=value assignments, $(…) and redirections dropped.</summary>
    private static List<string> Words(string line)
    {
        string s = Substitution().Replace(line, "x");
        s = Redirection().Replace(s, "");
        var words = Word().Matches(s).Select(m => m.Value.Trim('"')).ToList();
        while (words.Count > 0 && Assignment().IsMatch(words[0])) words.RemoveAt(0);
        if (words[0] == "source") words.RemoveAt(0);
        return words;
    }

    [Theory]
    [Trait("Tier", "process")]
    [InlineData("m2m-connector back", "backup")]
    [InlineData("m2m-connector backup --ver", "--verify\n--verify-only")]
    [InlineData("m2m-connector ledger ", "balances\nimport\nverify")]
    public async Task Bash_completion_asks_the_binary_and_completes_commands_and_options(string commandLine, string expected)
    {
        var bash = "/bin/bash";
        Assert.True(File.Exists(bash), "bash is required for the completion test");
        string bin = Path.Combine(Path.GetTempPath(), $"m2m-completion-{Guid.NewGuid():N}");
        Directory.CreateDirectory(bin);
        try
        {
            string wrapper = Path.Combine(bin, "m2m-connector");
            await File.WriteAllTextAsync(wrapper, $"#!/bin/sh\nexec dotnet \"{Path.Combine(AppContext.BaseDirectory, "m2m-connector.dll")}\" \"$@\"\n");
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var (code, script, stderr) = await CliProcess.RunAsync(null, "completion", "bash");
            Assert.True(code == 0, stderr);
            string scriptFile = Path.Combine(bin, "completion.bash");
            await File.WriteAllTextAsync(scriptFile, script);

            var info = new ProcessStartInfo(bash) { RedirectStandardOutput = true, RedirectStandardError = true };
            info.Environment["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH");
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add("""
                source "$1"
                COMP_LINE="$2"; COMP_POINT=${#COMP_LINE}
                read -r -a COMP_WORDS <<< "$COMP_LINE"
                [[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
                COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
                _m2m_connector_complete
                printf '%s\n' "${COMPREPLY[@]}" | sort
                """);
            info.ArgumentList.Add("bash");
            info.ArgumentList.Add(scriptFile);
            info.ArgumentList.Add(commandLine);
            using var p = Process.Start(info)!;
            string stdout = await p.StandardOutput.ReadToEndAsync();
            string err = await p.StandardError.ReadToEndAsync();
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(p.ExitCode == 0, err);
            // Help aliases (-h, /?) are offered too; compare them only when an option was being typed.
            var offered = stdout.Trim().Split('\n').Where(w => expected.StartsWith('-') || !(w.StartsWith('-') || w.StartsWith('/')));
            Assert.Equal(expected, string.Join("\n", offered));
        }
        finally
        {
            Directory.Delete(bin, recursive: true);
        }
    }

    [GeneratedRegex(@"\$\([^)]*\)")]
    private static partial Regex Substitution();

    [GeneratedRegex(@"\s*(>>?|<\()\s*\S+")]
    private static partial Regex Redirection();

    [GeneratedRegex(@"""[^""]*""|\S+")]
    private static partial Regex Word();

    [GeneratedRegex(@"^[A-Z_][A-Z0-9_]*=")]
    private static partial Regex Assignment();
}
