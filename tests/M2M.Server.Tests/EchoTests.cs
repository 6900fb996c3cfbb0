using System.Security.Cryptography;
using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.TestKit;

namespace M2M.Server.Tests;

/// <summary>
/// Echo at our own address (ilp-connector 23's echo middleware): an echo request comes back to its sender as a
/// new Prepare, whose Fulfill or Reject is the answer; anything else to our own address is F01.
/// </summary>
[Trait("Tier", "integration")]
public class EchoTests
{
    private static (IlpPrepare Ping, byte[] Fulfillment) Ping(string to, string from, ulong amount = 7, double expiresInSeconds = 10)
    {
        var fulfillment = RandomNumberGenerator.GetBytes(32);
        return (new IlpPrepare
        {
            Amount = amount,
            ExpiresAt = TestPeer.TruncateToMilliseconds(DateTimeOffset.UtcNow.AddSeconds(expiresInSeconds)),
            ExecutionCondition = SHA256.HashData(fulfillment),
            Destination = to,
            Data = IlpEcho.RequestData(from),
        }, fulfillment);
    }

    [Fact]
    public async Task An_echo_request_comes_back_to_the_sender_who_fulfills_it_and_the_books_are_even()
    {
        await using var host = await TestConnector.StartAsync(TestConnector.TwoPeers());
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        var (ping, fulfillment) = Ping("g.conn", "g.alice.pinger");
        alice.OnPrepare = p => Task.FromResult<IlpReply>(IlpEcho.IsResponse(p.Data.Span)
            ? new IlpFulfill { Fulfillment = fulfillment }
            : IlpRejects.Create("F06", "g.alice", "not an echo response"));

        var reply = await alice.SendAsync(ping);

        var fulfill = Assert.IsType<IlpFulfill>(reply);
        Assert.Equal(fulfillment, fulfill.Fulfillment.ToArray());
        var echoed = Assert.Single(alice.Received);
        Assert.Equal("g.alice.pinger", echoed.Destination);
        Assert.Equal(ping.Amount, echoed.Amount);
        Assert.Equal(ping.ExecutionCondition.ToArray(), echoed.ExecutionCondition.ToArray());
        Assert.Equal(IlpEcho.ResponseData(), echoed.Data.ToArray());
        Assert.Equal("ECHOECHOECHOECHO\u0001", System.Text.Encoding.ASCII.GetString(echoed.Data.Span));
        Assert.Equal(ping.ExpiresAt - host.Settings.ExpiryMargin, echoed.ExpiresAt); // one message window off, as any forward
        // Alice paid 7 and was paid 7: her account is back at zero, and the books balance.
        var account = await host.Accounting.Ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("alice", PeerAccounts.LedgerFor("USD", 9)));
        Assert.Equal((Int128)0, account!.PostedBalance);
        await Books.AssertConsistentAsync(host.Accounting.Ledger);
    }

    [Fact]
    public async Task The_senders_reject_of_the_echo_is_passed_back()
    {
        await using var host = await TestConnector.StartAsync(TestConnector.TwoPeers());
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        alice.OnPrepare = _ => Task.FromResult<IlpReply>(IlpRejects.Create("F99", "g.alice.pinger", "no thanks"));
        var reply = Assert.IsType<IlpReject>(await alice.SendAsync(Ping("g.conn", "g.alice.pinger").Ping));
        Assert.Equal(("F99", "g.alice.pinger", "no thanks"), (reply.Code, reply.TriggeredBy, reply.Message));
    }

    [Fact]
    public async Task An_echo_can_be_returned_to_another_peer()
    {
        await using var host = await TestConnector.StartAsync(TestConnector.TwoPeers());
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        await using var bob = await TestPeer.ConnectAsync(host.BtpPort, "bob", "bob-secret");
        var (ping, fulfillment) = Ping("g.conn", "g.bob.echo");
        bob.OnPrepare = _ => Task.FromResult<IlpReply>(new IlpFulfill { Fulfillment = fulfillment });
        Assert.IsType<IlpFulfill>(await alice.SendAsync(ping));
        Assert.Equal("g.bob.echo", Assert.Single(bob.Received).Destination);
        Assert.Empty(alice.Received);
    }

    [Theory]
    [InlineData("", "packet data too short for echo request. length=0")]
    [InlineData("hello, connector", "packet data too short for echo request. length=16")]
    [InlineData("hello, connector!!", "packet data does not start with ECHO prefix.")]
    [InlineData("ECHOECHOECHOECHO\u0001", "unexpected ping response.")]
    [InlineData("ECHOECHOECHOECHO\u0000\u0005g.a", "echo request source address is not a well-formed VarOctetString.")]
    [InlineData("ECHOECHOECHOECHO\u0000\u0003g..", "echo request source address is not a valid ILP address (")]
    public async Task Anything_else_to_our_own_address_is_F01_with_a_reason(string data, string reason)
    {
        await using var host = await TestConnector.StartAsync(TestConnector.TwoPeers());
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        var prepare = TestPeer.Payment("g.conn");
        prepare = new IlpPrepare { Amount = prepare.Amount, ExpiresAt = prepare.ExpiresAt, ExecutionCondition = prepare.ExecutionCondition, Destination = "g.conn", Data = System.Text.Encoding.ASCII.GetBytes(data) };
        var reply = Assert.IsType<IlpReject>(await alice.SendAsync(prepare));
        Assert.Equal(("F01", "g.conn"), (reply.Code, reply.TriggeredBy));
        Assert.StartsWith(reason, reply.Message);
        Assert.Empty(alice.Received);
    }

    [Fact]
    public async Task A_ping_that_expires_too_soon_for_the_echo_is_R02()
    {
        await using var host = await TestConnector.StartAsync(TestConnector.TwoPeers());
        await using var alice = await TestPeer.ConnectAsync(host.BtpPort, "alice", "alice-secret");
        var reply = Assert.IsType<IlpReject>(await alice.SendAsync(Ping("g.conn", "g.alice.pinger", expiresInSeconds: 1.5).Ping));
        Assert.Equal("R02", reply.Code);
        Assert.Empty(alice.Received);
    }
}
