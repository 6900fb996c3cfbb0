using M2M.LoadGen;

// m2m-loadgen: BTP load through one connector (ours or the JavaScript ilp-connector), see LoadOptions.Usage.
// Prints a summary and, last, one JSON line. Exit 0 = every packet got an answer; 2 = the time cap cut the
// run short or a peer could not connect; 1 = bad arguments.
if (args is ["relay", ..]) return await NullRelay.RunAsync(args);
try
{
    var options = LoadOptions.Parse(args);
    var report = await new LoadRun(options, Console.Out).RunAsync();
    report.Print(Console.Out);
    Console.WriteLine(report.ToJson());
    return report.HitTimeCap || report.Unsent > 0 && options.DurationSeconds == 0 ? 2 : 0;
}
catch (UsageException e)
{
    Console.Error.WriteLine(e.Message.Length == 0 ? LoadOptions.Usage : $"m2m-loadgen: {e.Message}\n{LoadOptions.Usage}");
    return e.Message.Length == 0 ? 0 : 1;
}
catch (LoadGenException e)
{
    Console.Error.WriteLine($"m2m-loadgen: {e.Message}");
    return 2;
}
