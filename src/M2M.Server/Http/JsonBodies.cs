using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace M2M.Server.Http;

/// <summary>
/// Reads a request body that must be one JSON object (the admin endpoints that take a hand-checked body).
/// Invalid UTF-8 never gets here (<see cref="Utf8RequestBodies"/> answers 400 first).
/// </summary>
internal static class JsonBodies
{
    /// <summary>The body as a detached JSON object, or a one-line reason why it is not one.</summary>
    public static async Task<(JsonElement Body, string? Error)> ReadObjectAsync(HttpContext context, string expected = "")
    {
        JsonElement body;
        try
        {
            using var doc = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted).ConfigureAwait(false);
            body = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            return (default, $"the body is not JSON: {e.Message}");
        }
        return body.ValueKind == JsonValueKind.Object ? (body, null) : (default, "the body must be a JSON object" + expected);
    }
}
