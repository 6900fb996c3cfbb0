using System.CommandLine;
using M2M.Cli;

// m2m-connector: the one executable. Each command lives in its own file under Commands/.
PrivateFiles.Apply();
// Test-only switches (crash points, migration simulations) come from the config loader, before any store is touched.
M2M.Core.Diagnostics.TestSeams.Install(M2M.Server.Configuration.ConfigLoader.FromProcess().ReadTestSeams());
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
return await root.Parse(args).InvokeAsync();
