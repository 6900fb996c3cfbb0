using System.CommandLine;

namespace M2M.Cli;

/// <summary>
/// `completion bash|zsh`: prints a shell completion script. The script asks the binary itself
/// (System.CommandLine's [suggest] directive), so commands and options added later complete too.
/// </summary>
internal static class CompletionCommand
{
    private const string Bash = """
        # m2m-connector completion for bash. Install: m2m-connector completion bash > /etc/bash_completion.d/m2m-connector
        # (or add: source <(m2m-connector completion bash) to ~/.bashrc)
        _m2m_connector_complete() {
          local IFS=$'\n'
          local words
          words=$("${COMP_WORDS[0]}" "[suggest:${COMP_POINT}]" "${COMP_LINE}" 2>/dev/null)
          COMPREPLY=( $(compgen -W "$words" -- "${COMP_WORDS[COMP_CWORD]}") )
        }
        complete -o default -F _m2m_connector_complete m2m-connector
        """;

    private const string Zsh = """
        # m2m-connector completion for zsh. Install: add to ~/.zshrc: source <(m2m-connector completion zsh)
        autoload -U +X bashcompinit && bashcompinit
        """;

    public static Command Create()
    {
        var shell = new Argument<string>("shell") { Description = "bash or zsh" };
        shell.AcceptOnlyFromAmong("bash", "zsh");
        var command = new Command("completion", "Print a shell completion script for m2m-connector (bash or zsh).") { shell };
        command.SetAction(parse =>
        {
            Console.WriteLine(parse.GetValue(shell) == "zsh" ? Zsh + "\n" + Bash : Bash);
            return 0;
        });
        return command;
    }
}
