using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Etlx;
using Microsoft.Diagnostics.Tracing.Parsers.Clr;

// usage: M2M.TraceSummary FILE.nettrace [TOP]
// Reads GC AllocationTick events (one per ~100 KB allocated, with a stack) and GC starts from a
// trace taken with `dotnet-trace collect --profile gc-verbose`, and prints where allocations come from.
if (args.Length == 0 || !File.Exists(args[0]))
{
    Console.Error.WriteLine("usage: M2M.TraceSummary FILE.nettrace [TOP]  (a trace from dotnet-trace collect --profile gc-verbose)");
    return 1;
}
int top = args.Length > 1 && int.TryParse(args[1], out int t) ? t : 25;
var byType = new Dictionary<string, long>();
var byFrame = new Dictionary<string, long>();
int gcs = 0;
using var log = new TraceLog(TraceLog.CreateFromEventPipeDataFile(args[0]));
foreach (var e in log.Events)
{
    if (e is GCAllocationTickTraceData a)
    {
        byType[a.TypeName] = byType.GetValueOrDefault(a.TypeName) + a.AllocationAmount64;
        string key = a.TypeName + " <- " + FirstOwnFrame(e.CallStack());
        byFrame[key] = byFrame.GetValueOrDefault(key) + a.AllocationAmount64;
    }
    else if (e is GCStartTraceData)
    {
        gcs++;
    }
}
long total = Math.Max(1, byType.Values.Sum());
Console.WriteLine($"GCs: {gcs}; sampled allocation bytes {total:N0}");
foreach (var (type, bytes) in byType.OrderByDescending(x => x.Value).Take(top)) Console.WriteLine($"{100.0 * bytes / total,5:F1}% {type}");
Console.WriteLine("--- by type <- first M2M frame on the stack (else the innermost frame)");
foreach (var (key, bytes) in byFrame.OrderByDescending(x => x.Value).Take(top)) Console.WriteLine($"{100.0 * bytes / total,5:F1}% {key}");
return 0;

static string FirstOwnFrame(TraceCallStack? stack)
{
    string? innermost = null;
    for (int depth = 0; stack is not null && depth < 64; depth++, stack = stack.Caller)
    {
        string name = stack.CodeAddress.FullMethodName;
        if (string.IsNullOrEmpty(name)) continue;
        innermost ??= name;
        if (name.StartsWith("M2M.", StringComparison.Ordinal)) return name;
    }
    return innermost ?? "?";
}
