using System.Text.Unicode;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace M2M.Server.Http;

/// <summary>
/// JSON is UTF-8 (RFC 8259): a request body that is not valid UTF-8 is answered 400 with one line before any
/// endpoint reads it. Before, System.Text.Json parsed such a body and the endpoint's GetString() threw later,
/// which surfaced as a 500 (issue 13 item 9). Bodies are small (Kestrel's MaxRequestBodySize, 64 KiB).
/// </summary>
public static class Utf8RequestBodies
{
    public static IApplicationBuilder UseUtf8RequestBodies(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (context.Request.ContentLength is 0 || !HasBody(context.Request))
        {
            await next(context).ConfigureAwait(false);
            return;
        }
        context.Request.EnableBuffering();
        using var copy = new MemoryStream();
        await context.Request.Body.CopyToAsync(copy, context.RequestAborted).ConfigureAwait(false);
        context.Request.Body.Position = 0;
        if (!Utf8.IsValid(copy.GetBuffer().AsSpan(0, (int)copy.Length)))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsJsonAsync(new { error = "request body is not valid UTF-8 (JSON must be UTF-8)" }, context.RequestAborted).ConfigureAwait(false);
            return;
        }
        await next(context).ConfigureAwait(false);
    });

    private static bool HasBody(HttpRequest request) =>
        HttpMethods.IsPost(request.Method) || HttpMethods.IsPut(request.Method) || HttpMethods.IsPatch(request.Method);
}
