using System.Text;

namespace M2M.Server.Observability;

/// <summary>
/// Which form of /metrics a client gets. Prometheus (and any client that names a media type, or
/// none at all) gets the full text exposition format. A client that accepts anything (`Accept:
/// */*`, what curl and wget send) gets the samples only, one `name{labels} value` per line,
/// without the # HELP / # TYPE comments: then the upgrade guide's loop
/// `[ $(curl -s …/metrics | grep 'settlements_pending' | awk '{print $2}') -gt 0 ]` reads one
/// number instead of "HELP TYPE 0" (which made `[` fail and the loop end at once).
/// </summary>
public static class MetricsText
{
    public static bool SamplesOnly(string? accept) => accept is not null && accept.Trim() == "*/*";

    /// <summary>Copies the exposition text without its comment lines.</summary>
    public static async Task WriteSamplesAsync(Func<Stream, CancellationToken, Task> write, Stream output, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        await write(buffer, ct).ConfigureAwait(false);
        buffer.Position = 0;
        using var reader = new StreamReader(buffer, Encoding.UTF8);
        var text = new StringBuilder((int)buffer.Length);
        while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
            if (line.Length > 0 && line[0] != '#') text.Append(line).Append('\n');
        await output.WriteAsync(Encoding.UTF8.GetBytes(text.ToString()), ct).ConfigureAwait(false);
    }
}
