using System.Globalization;
using System.Net;

namespace M2M.LoadGen;

/// <summary>Command-line options, validated: every bad value is one line naming the flag.</summary>
public sealed record LoadOptions
{
    /// <summary>Upper bounds so every run is finite even when mistyped.</summary>
    public const long MaxPackets = 10_000_000;
    public const int MaxConcurrency = 5_000;
    public const double MaxDurationSeconds = 3_600;

    /// <summary>The sender's BTP connection; userinfo is auth_username:auth_token.</summary>
    public Uri Connector { get; init; } = new("ws://alice:alice-secret@127.0.0.1:3000/");
    /// <summary>The receiver's BTP connection (ilp-plugin-btp servers listen on one port per peer).</summary>
    public Uri? Receiver { get; init; }
    public string ReceiverAuth { get; init; } = "bob:bob-secret";
    public string Destination { get; init; } = "g.bob.receiver";
    public long Packets { get; init; } = 10_000;
    public int Concurrency { get; init; } = 64;
    public ulong Amount { get; init; } = 1;
    public int DataBytes { get; init; } = 32;
    public int Warmup { get; init; } = 500;
    /// <summary>Packets per second across all workers; 0 = as fast as the concurrency allows.</summary>
    public double Rate { get; init; }
    public double ExpirySeconds { get; init; } = 30;
    /// <summary>Hard stop for the whole run, connection included.</summary>
    public double DurationCapSeconds { get; init; } = 120;
    /// <summary>Run for this long (packets still caps it) and sample the target's RSS; 0 = count mode.</summary>
    public double DurationSeconds { get; init; }
    /// <summary>Process whose CPU time and RSS are reported (the connector under test).</summary>
    public int? Pid { get; init; }
    public double SampleSeconds { get; init; } = 10;
    public string Label { get; init; } = "connector";

    /// <summary>The receiver URL with credentials: --receiver, else the connector's host and port with --receiver-auth.</summary>
    public Uri ReceiverUrl => Receiver ?? new UriBuilder(Connector) { UserName = ReceiverAuth.Split(':', 2)[0], Password = ReceiverAuth.Split(':', 2).ElementAtOrDefault(1) ?? "" }.Uri;

    public static string Usage => """
        usage: m2m-loadgen [options]
          --connector URL        sender's BTP URL with auth, e.g. ws://alice:alice-secret@127.0.0.1:3000
          --receiver URL         receiver's BTP URL with auth (default: the connector's host:port with --receiver-auth)
          --receiver-auth U:T    receiver's auth_username:auth_token (default bob:bob-secret)
          --destination ADDR     ILP address the connector routes to the receiver (default g.bob.receiver)
          --packets N            packets to send after warmup (default 10000, max 10000000)
          --concurrency N        packets in flight (default 64)
          --rate R               packets/s cap (default: none)
          --amount A             amount per packet (default 1)
          --data-bytes N         Prepare data size, >= 8 (default 32)
          --warmup N             unmeasured packets first (default 500)
          --expiry S             Prepare expiry in seconds (default 30)
          --duration-cap S       hard time limit for the whole run (default 120)
          --duration S           run S seconds (bounded by --packets) and sample RSS of --pid
          --pid PID              report CPU seconds and RSS of this process (the connector)
          --sample S             RSS sample interval in --duration mode (default 10)
          --label NAME           name in the report
        """;

    public static LoadOptions Parse(string[] args)
    {
        var o = new LoadOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string flag = args[i];
            if (flag is "-h" or "--help") throw new UsageException("");
            if (i + 1 >= args.Length) throw new UsageException($"{flag} needs a value");
            string v = args[++i];
            o = flag switch
            {
                "--connector" => o with { Connector = LoopbackUrl(flag, v) },
                "--receiver" => o with { Receiver = LoopbackUrl(flag, v) },
                "--receiver-auth" => o with { ReceiverAuth = v.Contains(':') ? v : throw new UsageException($"{flag} must be user:token") },
                "--destination" => o with { Destination = v },
                "--packets" => o with { Packets = (long)Number(flag, v, 1, MaxPackets) },
                "--concurrency" => o with { Concurrency = (int)Number(flag, v, 1, MaxConcurrency) },
                "--rate" => o with { Rate = Number(flag, v, 0, 10_000_000) },
                "--amount" => o with { Amount = ulong.TryParse(v, CultureInfo.InvariantCulture, out ulong a) ? a : throw new UsageException($"{flag} '{v}' is not an unsigned 64-bit integer") },
                "--data-bytes" => o with { DataBytes = (int)Number(flag, v, 8, 32_767) },
                "--warmup" => o with { Warmup = (int)Number(flag, v, 0, 1_000_000) },
                "--expiry" => o with { ExpirySeconds = Number(flag, v, 2, 600) },
                "--duration-cap" => o with { DurationCapSeconds = Number(flag, v, 1, MaxDurationSeconds) },
                "--duration" => o with { DurationSeconds = Number(flag, v, 1, MaxDurationSeconds) },
                "--pid" => o with { Pid = (int)Number(flag, v, 1, int.MaxValue) },
                "--sample" => o with { SampleSeconds = Number(flag, v, 0.1, 600) },
                "--label" => o with { Label = v },
                _ => throw new UsageException($"unknown option {flag}"),
            };
        }
        if (o.DurationSeconds > o.DurationCapSeconds)
            throw new UsageException($"--duration {o.DurationSeconds} is longer than --duration-cap {o.DurationCapSeconds}");
        return o;
    }

    private static double Number(string flag, string value, double min, double max)
    {
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || double.IsNaN(d))
            throw new UsageException($"{flag} '{value}' is not a number");
        if (d < min || d > max) throw new UsageException($"{flag} {value} is out of range {min}..{max}");
        return d;
    }

    /// <summary>Load only ever goes to this machine.</summary>
    private static Uri LoopbackUrl(string flag, string value)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var url) || url.Scheme is not ("ws" or "btp+ws"))
            throw new UsageException($"{flag} '{Redact(value)}' is not a ws:// URL");
        bool loopback = url.IsLoopback || (IPAddress.TryParse(url.Host, out var ip) && IPAddress.IsLoopback(ip));
        if (!loopback) throw new UsageException($"{flag} host '{url.Host}' is not loopback: the load generator only targets this machine");
        return url;
    }

    /// <summary>Never echo a token.</summary>
    public static string Redact(string url) => Uri.TryCreate(url, UriKind.Absolute, out var u) ? Redact(u) : "(unparsable URL)";

    public static string Redact(Uri url) => new UriBuilder(url) { Password = url.UserInfo.Contains(':') ? "***" : "" }.Uri.ToString();
}

public sealed class UsageException(string message) : Exception(message);
