using System.CommandLine;
using System.Globalization;

namespace M2M.Cli;

/// <summary>`pay --from ACCOUNT --to POINTER --amount N`: the send API with a progress bar; exit 0 when the whole amount was paid.</summary>
internal static class PayCommand
{
    public static Command Create()
    {
        var from = new Option<string>("--from") { Description = "Hosted account that pays", Required = true };
        var to = new Option<string>("--to") { Description = "Receiver: a payment pointer ($host/path) or an SPSP URL", Required = true };
        var amount = new Option<string>("--amount") { Description = "Source amount in the account's units (a whole number)", Required = true };
        var id = new Option<string?>("--id") { Description = "Client id: repeating the command with the same id never pays twice (default: a new id)" };
        var token = new Option<string?>("--token") { Description = "The account's API token (default: the admin token)" };
        var command = new Command("pay", "Pay from a hosted account by STREAM (send API) and show the progress.") { from, to, amount, id, token };
        AccountsCommand.Common(command, out var config, out var url);
        command.SetAction((parse, ct) =>
        {
            if (!ulong.TryParse(parse.GetValue(amount), NumberStyles.None, CultureInfo.InvariantCulture, out ulong n) || n == 0)
            {
                Console.Error.WriteLine($"error: --amount '{parse.GetValue(amount)}' is invalid; expected a positive whole number");
                return Task.FromResult(1);
            }
            string clientId = parse.GetValue(id) ?? Guid.NewGuid().ToString("N");
            return AccountsCommand.RunAsync(parse.GetValue(config), parse.GetValue(url),
                (http, ct2) => PayAsync(http, parse.GetValue(from)!, parse.GetValue(to)!, n, clientId, ct2), ct, parse.GetValue(token));
        });
        return command;
    }

    private static async Task<int> PayAsync(HttpClient http, string from, string to, ulong amount, string clientId, CancellationToken ct)
    {
        string path = $"/accounts/{Uri.EscapeDataString(from)}/payments";
        var payment = await AccountsCommand.SendAsync(http, HttpMethod.Post, path,
            new { receiver = to, sourceAmount = amount.ToString(CultureInfo.InvariantCulture), clientId }, ct);
        string paymentId = payment.GetProperty("paymentId").GetString()!;
        Console.Error.WriteLine($"payment {paymentId} (client id {clientId}) from {from} to {to}");
        while (payment.GetProperty("state").GetString() == "sending")
        {
            Draw(payment, amount);
            await Task.Delay(200, ct);
            payment = await AccountsCommand.SendAsync(http, HttpMethod.Get, $"{path}/{paymentId}", null, ct);
        }
        Draw(payment, amount);
        Console.Error.WriteLine();
        string state = payment.GetProperty("state").GetString()!;
        Console.WriteLine($"{state}: sent {payment.GetProperty("sent").GetString()} of {amount}, delivered {payment.GetProperty("delivered").GetString()}");
        if (payment.TryGetProperty("error", out var error) && error.ValueKind == System.Text.Json.JsonValueKind.String) Console.Error.WriteLine($"error: {error.GetString()}");
        return state == "completed" ? 0 : 1;
    }

    private static void Draw(System.Text.Json.JsonElement payment, ulong amount)
    {
        ulong sent = ulong.Parse(payment.GetProperty("sent").GetString()!, CultureInfo.InvariantCulture);
        const int width = 30;
        int filled = (int)((UInt128)sent * width / amount);
        Console.Error.Write($"\r[{new string('#', filled)}{new string('.', width - filled)}] {sent}/{amount}");
    }
}
