using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace M2M.Server.Http;

/// <summary>
/// Reads a request body that must be one JSON object: every endpoint that takes a hand-checked body (admin,
/// routing, wallets, hosted accounts, payments) reads it here, so a bad body gets the same 400 everywhere,
/// <c>{"error": "…"}</c> in one line. Invalid UTF-8 never gets here (<see cref="Utf8RequestBodies"/> answers 400 first).
/// </summary>
internal static class JsonBodies
{
    /// <summary>
    /// The body as a detached JSON object, or a one-line reason why it is not one. <paramref name="expected"/> shows
    /// the shape (" {peerId, amount?}"). An empty body is an error unless <paramref name="optional"/>: then it is
    /// (default, null), and the caller sees <see cref="JsonValueKind.Undefined"/>.
    /// </summary>
    public static async Task<(JsonElement Body, string? Error)> ReadObjectAsync(HttpContext context, string expected = "", bool optional = false)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted).ConfigureAwait(false);
        var bytes = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        if (bytes.Span.Trim(" \t\r\n"u8).IsEmpty)
            return optional ? (default, null) : (default, "the body is empty; expected a JSON object" + expected);
        JsonElement body;
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            body = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            return (default, $"the body is not JSON: {e.Message}");
        }
        return body.ValueKind == JsonValueKind.Object ? (body, null) : (default, "the body must be a JSON object" + expected);
    }

    /// <summary>The one error shape of the HTTP API: <c>{"error": "…"}</c> with the status.</summary>
    public static IResult Error(int status, string message) => Results.Json(new { error = message }, statusCode: status);

    /// <summary>400 with <paramref name="message"/>.</summary>
    public static IResult Bad(string message) => Error(StatusCodes.Status400BadRequest, message);
}
