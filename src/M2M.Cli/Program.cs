using M2M.Cli;

// m2m-connector: the one executable. Each command lives in its own file under Commands/; CliRoot assembles them.
return await CliRoot.Build().Parse(args).InvokeAsync();
