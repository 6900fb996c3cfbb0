namespace M2M.Server.Http;

/// <summary>
/// Reads the body of an HTTP answer from another server (a rate source, an SPSP receiver) up to a limit, so a
/// wrong or hostile server cannot make us buffer without bound. Each caller says what "too large" means in its
/// own error text.
/// </summary>
internal static class ResponseBodies
{
    /// <summary>The whole body, or null when it is longer than <paramref name="maxBytes"/> (by Content-Length or as read).</summary>
    public static async Task<byte[]?> ReadLimitedAsync(HttpResponseMessage response, int maxBytes, CancellationToken ct)
    {
        if (response.Content.Headers.ContentLength > maxBytes) return null;
        var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[16 * 1024];
            int read;
            while ((read = await stream.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + read > maxBytes) return null;
                buffer.Write(chunk, 0, read);
            }
            return buffer.ToArray();
        }
    }
}
