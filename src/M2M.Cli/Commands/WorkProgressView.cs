using M2M.Core.Progress;
using Spectre.Console;

namespace M2M.Cli;

/// <summary>
/// Shows long work (backup, verify, restore, import): live bars with percent and time left on an
/// interactive terminal, periodic plain lines (done, total, rate, ETA) when the output is a log or CI.
/// </summary>
internal static class WorkProgressView
{
    public static bool Interactive => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    /// <summary>Runs <paramref name="work"/> with a progress sink; <paramref name="line"/> writes a text line above any live bars.</summary>
    public static async Task<T> RunAsync<T>(Func<IWorkProgress, Action<string>, Task<T>> work)
    {
        if (!Interactive) return await work(new PlainProgress(Console.WriteLine), Console.WriteLine);
        return await AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(ctx => work(new Bars(ctx), AnsiConsole.WriteLine));
    }

    private sealed class Bars(ProgressContext ctx) : IWorkProgress
    {
        public IWorkStep Begin(string name, long total, WorkUnit unit)
        {
            var task = ctx.AddTask(Markup.Escape(name), maxValue: Math.Max(1, total));
            task.IsIndeterminate = total <= 0;
            return new Bar(task, name, total, unit);
        }
    }

    private sealed class Bar(ProgressTask task, string name, long total, WorkUnit unit) : IWorkStep
    {
        private readonly DateTimeOffset _start = DateTimeOffset.UtcNow;

        public void Report(long done)
        {
            if (total > 0) task.Value = Math.Min(done, total);
            task.Description = Markup.Escape(PlainProgress.Line(name, done, total, unit, DateTimeOffset.UtcNow - _start));
        }

        public void Complete(long done)
        {
            task.Description = Markup.Escape($"{name}: {PlainProgress.Amount(done, unit)}");
            task.IsIndeterminate = false;
            task.Value = task.MaxValue;
            task.StopTask();
        }

        public void Dispose()
        {
            if (!task.IsFinished) task.StopTask();
        }
    }
}
