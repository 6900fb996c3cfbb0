using System.Net;
using System.Security.Cryptography;
using System.Text;
using M2M.Btp;
using M2M.Core.Ilp;
using Microsoft.Extensions.Logging.Abstractions;

namespace M2M.LoadGen;

/// <summary>
/// The floor of bench/compare.sh: a "connector" that only relays. Two BTP peers authenticate over
/// WebSocket on one loopback port (the sender and the receiver, as with m2m-connector); every ILP
/// packet from the sender is passed, bytes unchanged and unparsed, to the receiver's session, and
/// the reply comes back the same way. No routing, no ledger, no expiry: what is left is our BTP
/// and WebSocket stack, so the connector's cost above this row is the switch and the ledger.
/// usage: m2m-loadgen relay PORT SENDER_USER:TOKEN RECEIVER_USER:TOKEN   (runs until killed)
/// </summary>
public sealed class NullRelay(string sender, string senderToken, string receiver, string receiverToken) : IBtpMessageHandler
{
    private BtpSession? _receiver;

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length != 4 || !int.TryParse(args[1], out int port) || port is < 1 or > 65535
            || args[2].Split(':', 2) is not [var su, var st] || args[3].Split(':', 2) is not [var ru, var rt])
        {
            Console.Error.WriteLine("usage: m2m-loadgen relay PORT SENDER_USER:TOKEN RECEIVER_USER:TOKEN");
            return 1;
        }
        var relay = new NullRelay(su, st, ru, rt);
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/"); // loopback only
        listener.Start();
        Console.WriteLine($"null relay on 127.0.0.1:{port}");
        while (true)
        {
            var context = await listener.GetContextAsync();
            _ = relay.ServeAsync(context);
        }
    }

    private async Task ServeAsync(HttpListenerContext context)
    {
        if (!context.Request.IsWebSocketRequest)
        {
            context.Response.StatusCode = 426;
            context.Response.Close();
            return;
        }
        var ws = await context.AcceptWebSocketAsync(subProtocol: null);
        using var socket = ws.WebSocket;
        var session = await BtpServerHandshake.AcceptAsync(socket, Authenticate, this, BtpLimits.Default, NullLogger.Instance, CancellationToken.None);
        if (session is null) return;
        if (session.PeerId == receiver) _receiver = session;
        await session.Completion;
    }

    private string? Authenticate(string user, string token) =>
        user == sender && Same(token, senderToken) ? sender : user == receiver && Same(token, receiverToken) ? receiver : null;

    private static bool Same(string a, string b) => CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));

    public async ValueTask<ReadOnlyMemory<byte>> HandleIlpAsync(BtpSession session, ReadOnlyMemory<byte> ilpPacket, CancellationToken ct)
    {
        if (_receiver is not { IsOpen: true } next || session == next)
            return IlpEncoder.ToArray(IlpRejects.Create(IlpErrorCode.F02_Unreachable, "g.relay", "no receiver connected"));
        return await next.SendIlpAsync(ilpPacket, ct);
    }
}
