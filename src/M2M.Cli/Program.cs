using M2M.Cli;

// m2m-connector: the one executable. Each command lives in its own file under Commands/; CliRoot assembles them.
// Test-only switches (crash points, migration simulations) come from the config loader, before any store is touched.
M2M.Core.Diagnostics.TestSeams.Install(M2M.Server.Configuration.ConfigLoader.FromProcess().ReadTestSeams());
return await CliRoot.Build().Parse(args).InvokeAsync();
