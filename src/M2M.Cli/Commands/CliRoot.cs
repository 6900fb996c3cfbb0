using System.CommandLine;

namespace M2M.Cli;

/// <summary>The command tree of m2m-connector (tests walk it: every command has help examples that parse).</summary>
internal static class CliRoot
{
    public static RootCommand Build()
    {
        var root = new RootCommand("M2M Connector: an Interledger (ILPv4) connector for machine-to-machine payments.");
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(ConfigCommand.Create());
        root.Subcommands.Add(HealthCommand.Create());
        root.Subcommands.Add(LedgerCommand.Create());
        root.Subcommands.Add(MigrateWalletCommand.Create());
        root.Subcommands.Add(WalletCommand.Create());
        root.Subcommands.Add(VersionCommand.Create());
        root.Subcommands.Add(BackupCommand.Create());
        root.Subcommands.Add(RestoreCommand.Create());
        root.Subcommands.Add(PingCommand.Create());
        root.Subcommands.Add(AccountsCommand.Create());
        root.Subcommands.Add(PayCommand.Create());
        root.Subcommands.Add(DataCommand.Create());
        root.Subcommands.Add(NetworkCommands.Peers());
        root.Subcommands.Add(NetworkCommands.Routes());
        root.Subcommands.Add(CompletionCommand.Create());
        HelpExamples.Apply(root);
        return root;
    }
}
