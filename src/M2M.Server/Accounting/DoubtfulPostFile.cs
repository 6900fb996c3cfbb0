using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using M2M.Core.Switch;
using Microsoft.Extensions.Logging;

namespace M2M.Server.Accounting;

/// <summary>
/// The doubtful-post journal as a JSON-lines file (<c>doubtful-posts.journal</c> beside the other data
/// files). One line per event: <c>{"type":"doubtful",…}</c> when a Fulfill is answered T00 with the
/// post's outcome unknown, <c>{"type":"resolved",…}</c> when the books agree with that T00. Every
/// append is synced (Flush(true)); it only happens on the failure path. A torn last line (crash
/// mid-append) is ignored with a warning; a corrupt line elsewhere is logged as an error and skipped.
/// </summary>
public sealed partial class DoubtfulPostFile : DoubtfulPostJournalBase
{
    public const string FileName = "doubtful-posts.journal";

    private readonly string _path;
    private readonly ILogger _log;
    /// <summary>The file ends in a torn line: the next append starts on a fresh line so it is not glued to it.</summary>
    private bool _tornTail;

    private DoubtfulPostFile(string path, ILogger log)
    {
        _path = path;
        _log = log;
    }

    /// <summary>Reads the journal at <paramref name="path"/> (absent: empty) and keeps its open records.</summary>
    public static DoubtfulPostFile OpenFile(string path, ILogger log)
    {
        var journal = new DoubtfulPostFile(Path.GetFullPath(path), log);
        journal.ReadFile();
        if (journal.OpenPosts.Count > 0) journal.LogOpenAtStart(journal.OpenPosts.Count, journal._path);
        return journal;
    }

    private protected override bool Store(DoubtfulPost post)
    {
        try
        {
            AppendLine(DoubtfulLine(post));
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogAppendFailed(post.IncomingId.ToString(CultureInfo.InvariantCulture), _path, e.Message);
            return false;
        }
    }

    private protected override void StoreResolved(UInt128 incomingId, DoubtfulOutcome outcome)
    {
        try
        {
            AppendLine(ResolvedLine(incomingId, outcome, DateTimeOffset.UtcNow));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Still open on disk: the next start resolves it again, idempotently.
            LogAppendFailed(incomingId.ToString(CultureInfo.InvariantCulture), _path, e.Message);
        }
    }

    public override void Compact()
    {
        lock (Gate)
        {
            try
            {
                string temp = _path + ".tmp";
                using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
                {
                    foreach (var post in OpenPosts.Values) stream.Write(Encoding.UTF8.GetBytes(DoubtfulLine(post)));
                    stream.Flush(flushToDisk: true);
                }
                File.Move(temp, _path, overwrite: true);
                _tornTail = false;
                SyncDirectory(Path.GetDirectoryName(_path)!);
                LogCompacted(_path, OpenPosts.Count);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                LogCompactFailed(_path, e.Message);
            }
        }
    }

    private void AppendLine(string line)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        using var stream = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read);
        if (_tornTail) stream.WriteByte((byte)'\n');
        stream.Write(Encoding.UTF8.GetBytes(line));
        stream.Flush(flushToDisk: true);
        _tornTail = false;
    }

    private void ReadFile()
    {
        if (!File.Exists(_path)) return;
        string text;
        try { text = File.ReadAllText(_path, Encoding.UTF8); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogUnreadable(_path, e.Message); // the connector still starts: the journal is a safety net
            return;
        }
        _tornTail = text.Length > 0 && text[^1] != '\n';
        string[] lines = text.Split('\n');
        // Split leaves "" after a final '\n'; anything else in the last slot is a torn append.
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            if (line.Length == 0) continue;
            bool last = i == lines.Length - 1;
            if (!TryApply(line))
            {
                if (last) LogTornLastLine(_path, i + 1);
                else LogCorruptLine(_path, i + 1, line.Length > 80 ? line[..80] + "…" : line);
            }
        }
    }

    private bool TryApply(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var e = doc.RootElement;
            switch (e.GetProperty("type").GetString())
            {
                case "doubtful":
                    var post = ParseDoubtful(e);
                    OpenPosts[post.IncomingId] = post;
                    return true;
                case "resolved":
                    OpenPosts.Remove(Id(e, "incoming"));
                    return true;
                default:
                    return false;
            }
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or OverflowException)
        {
            return false;
        }
    }

    /// <summary>Parses one "doubtful" record (a line of this file, or a row of <see cref="DoubtfulPostTable"/>).</summary>
    public static bool TryParse(string line, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out DoubtfulPost? post)
    {
        post = null;
        try
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.GetProperty("type").GetString() != "doubtful") return false;
            post = ParseDoubtful(doc.RootElement);
            return true;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or OverflowException)
        {
            return false;
        }
    }

    private static DoubtfulPost ParseDoubtful(JsonElement e) => new()
    {
        IncomingId = Id(e, "incoming"),
        OutgoingId = Id(e, "outgoing"),
        IncomingDebit = Id(e, "incomingDebit"),
        IncomingCredit = Id(e, "incomingCredit"),
        OutgoingDebit = Id(e, "outgoingDebit"),
        OutgoingCredit = Id(e, "outgoingCredit"),
        Amount = ulong.Parse(e.GetProperty("amount").GetString()!, CultureInfo.InvariantCulture),
        Ledger = e.GetProperty("ledger").GetUInt32(),
        OutgoingAmount = e.TryGetProperty("outgoingAmount", out var oa) ? ulong.Parse(oa.GetString()!, CultureInfo.InvariantCulture) : null,
        OutgoingLedger = e.TryGetProperty("outgoingLedger", out var ol) ? ol.GetUInt32() : null,
        PostIncomingId = Id(e, "postIncoming"),
        PostOutgoingId = Id(e, "postOutgoing"),
        ReverseIncomingId = Id(e, "reverseIncoming"),
        ReverseOutgoingId = Id(e, "reverseOutgoing"),
        At = DateTimeOffset.Parse(e.GetProperty("at").GetString()!, CultureInfo.InvariantCulture),
    };

    private static UInt128 Id(JsonElement e, string name) => UInt128.Parse(e.GetProperty(name).GetString()!, CultureInfo.InvariantCulture);

    /// <summary>One JSON object and '\n'; ids and the amount as decimal strings (128-bit and 64-bit exact).</summary>
    public static string DoubtfulLine(DoubtfulPost p) => Line(w =>
    {
        w.WriteString("type", "doubtful");
        Write(w, "incoming", p.IncomingId);
        Write(w, "outgoing", p.OutgoingId);
        Write(w, "incomingDebit", p.IncomingDebit);
        Write(w, "incomingCredit", p.IncomingCredit);
        Write(w, "outgoingDebit", p.OutgoingDebit);
        Write(w, "outgoingCredit", p.OutgoingCredit);
        w.WriteString("amount", p.Amount.ToString(CultureInfo.InvariantCulture));
        w.WriteNumber("ledger", p.Ledger);
        // Only for converted packets: journals written before exchange rates stay readable, and are read the same.
        if (p.OutgoingAmount is { } outgoingAmount) w.WriteString("outgoingAmount", outgoingAmount.ToString(CultureInfo.InvariantCulture));
        if (p.OutgoingLedger is { } outgoingLedger) w.WriteNumber("outgoingLedger", outgoingLedger);
        Write(w, "postIncoming", p.PostIncomingId);
        Write(w, "postOutgoing", p.PostOutgoingId);
        Write(w, "reverseIncoming", p.ReverseIncomingId);
        Write(w, "reverseOutgoing", p.ReverseOutgoingId);
        w.WriteString("at", p.At.ToString("O", CultureInfo.InvariantCulture));
    });

    private static string ResolvedLine(UInt128 incomingId, DoubtfulOutcome outcome, DateTimeOffset at) => Line(w =>
    {
        w.WriteString("type", "resolved");
        Write(w, "incoming", incomingId);
        w.WriteString("outcome", OutcomeName(outcome));
        w.WriteString("at", at.ToString("O", CultureInfo.InvariantCulture));
    });

    private static void Write(Utf8JsonWriter w, string name, UInt128 value) => w.WriteString(name, value.ToString(CultureInfo.InvariantCulture));

    private static string Line(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>Makes the rename durable: fsync the directory (POSIX; .NET cannot open a directory as a file).</summary>
    private static void SyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows()) return;
        int fd = Native.open(directory, Native.O_RDONLY | Native.O_DIRECTORY);
        if (fd < 0) throw new IOException($"cannot open directory {directory} to sync it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (Native.fsync(fd) != 0) throw new IOException($"fsync of directory {directory} failed (errno {Marshal.GetLastPInvokeError()})");
        }
        finally
        {
            _ = Native.close(fd);
        }
    }

    private static class Native
    {
        public const int O_RDONLY = 0;
        // Linux value; other POSIX systems ignore an unknown bit at worst (then open works on the directory anyway).
        public const int O_DIRECTORY = 0x10000;

        [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
        public static extern int open(string path, int flags);

        [DllImport("libc", SetLastError = true)]
        public static extern int fsync(int fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);
    }

    [LoggerMessage(EventId = 4101, Level = LogLevel.Error, Message = "Could not write the doubtful-post journal {Path} for pending transfer {IncomingId}: {Reason}; it is resolved in memory only")]
    private partial void LogAppendFailed(string incomingId, string path, string reason);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Warning, Message = "Doubtful-post journal {Path}: line {Line} is torn (a crash during the append); ignored")]
    private partial void LogTornLastLine(string path, int line);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Error, Message = "Doubtful-post journal {Path}: line {Line} is corrupt and skipped: {Text}")]
    private partial void LogCorruptLine(string path, int line, string text);

    [LoggerMessage(EventId = 4104, Level = LogLevel.Warning, Message = "{Count} doubtful posts left open by the previous run in {Path}: resolving them")]
    private partial void LogOpenAtStart(int count, string path);

    [LoggerMessage(EventId = 4105, Level = LogLevel.Information, Message = "Doubtful-post journal {Path} compacted: {Open} open records")]
    private partial void LogCompacted(string path, int open);

    [LoggerMessage(EventId = 4107, Level = LogLevel.Error, Message = "Cannot read the doubtful-post journal {Path}: {Reason}; its open records are not resolved by this run")]
    private partial void LogUnreadable(string path, string reason);

    [LoggerMessage(EventId = 4106, Level = LogLevel.Error, Message = "Could not compact the doubtful-post journal {Path}: {Reason}")]
    private partial void LogCompactFailed(string path, string reason);
}
