using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Security.Cryptography;
using M2M.Btp;
using M2M.Core.Ilp;
using M2M.Core.Ledger;
using M2M.Settlement.Evm;
using M2M.TestKit;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Xunit.Abstractions;

namespace M2M.Reliability.Tests;

/// <summary>
/// EVM settlement is paid exactly once with three connector processes on one PostgreSQL ledger and a real
/// EVM node (ganache), issue 15. The paying cluster shares one EVM key; the receiving side is a real
/// <see cref="EvmClaimReceiver"/> (on-chain channel check, signature check, ledger credit) behind a BTP
/// client connected to every node as the peer:
/// c1: traffic through all three nodes at once crosses the peer's threshold, four times over: one channel,
///     one claim sequence, the receiver credited exactly what the cluster booked as paid;
/// c2: the receiver accepts the claim (and credits it), then SIGKILLs the node that sent it before the node
///     hears so or books it; another node resumes the settlement: the same claim again, credited once.
/// Short form: 1 run; M2M_LONG=1 M2M_SETTLE_RUNS=N: N runs.
/// </summary>
public sealed class EvmSettlementExactlyOnceTests(PostgresServer postgres, EvmNodeFixture chain, ITestOutputHelper output)
    : IClassFixture<PostgresServer>, IClassFixture<EvmNodeFixture>
{
    private const ulong Threshold = 1_000;
    private static readonly BigInteger WeiPerUnit = BigInteger.Pow(10, 9); // USD/9
    private static readonly (string Key, string Address) Payer = EvmNodeFixture.Accounts[1];
    private static readonly (string Key, string Address) Recipient = EvmNodeFixture.Accounts[2];

    [Fact]
    [Trait("Tier", "process")]
    public async Task Three_nodes_on_one_postgres_pay_each_evm_obligation_once()
    {
        await RunAsync(seed: 1);
    }

    [LongFact]
    [Trait("Tier", "long")]
    public async Task Three_nodes_on_one_postgres_pay_each_evm_obligation_once_many_runs()
    {
        int runs = int.TryParse(Environment.GetEnvironmentVariable("M2M_SETTLE_RUNS"), out var n) ? n : 20;
        var watch = Stopwatch.StartNew();
        for (int run = 1; run <= runs; run++) await RunAsync(seed: run);
        output.WriteLine($"{runs} runs × 2 cases: 0 violations in {watch.Elapsed.TotalSeconds:F0} s");
    }

    private async Task RunAsync(int seed)
    {
        // A fresh contract per run: channels and claims of earlier runs cannot be mistaken for this run's.
        string contract = (await new EvmChannelClient(chain.RpcUrl, EvmNodeFixture.Accounts[0].Key, EvmNodeFixture.ChainId).DeployContractAsync()).ContractAddress;
        await using var cluster = await Cluster.StartAsync(postgres, chain.RpcUrl, contract, output);
        var random = new Random(seed);
        var violations = new List<string>();
        void Check(bool ok, string what)
        {
            if (!ok) violations.Add(what);
        }

        // c1: four times over the threshold, each time through all three nodes at once.
        ulong c1 = 0;
        for (int round = 0; round < 4; round++)
        {
            c1 += await cluster.SendAsync("c1", 12, 100, random);
            await cluster.WaitAsync("c1", owed => owed < (long)Threshold);
        }
        // c2: one crossing; the receiver kills the node whose claim it just accepted.
        cluster.Receiver("c2").KillSenderOnFirstClaim = true;
        ulong c2 = await cluster.SendAsync("c2", 11, 100, random);
        await cluster.WaitAsync("c2", owed => owed < (long)Threshold);
        await Task.Delay(TimeSpan.FromSeconds(3)); // anything a node would still do wrongly has time to happen

        var report = new List<string>();
        foreach (var (peer, fulfilled) in new[] { ("c1", c1), ("c2", c2) })
        {
            var receiver = cluster.Receiver(peer);
            var (owed, booked) = await cluster.BalancesAsync(peer);
            long credited = (long)await receiver.CreditedAsync();
            var channels = receiver.Channels;
            var last = receiver.Store.Latest("cluster");
            var channelRows = await cluster.PayerChannelsAsync(peer);
            report.Add($"{peer}: fulfilled {fulfilled}, booked {booked}, still owed {owed}, receiver credited {credited} on {channels.Count} channel(s), claims accepted {receiver.Accepted}, last cumulative {last?.CumulativeWei} wei, payer channel rows {channelRows}");
            Check(channels.Count == 1, $"{peer}: claims arrived on {channels.Count} channels (one claim sequence expected)");
            Check(credited == booked, $"{peer}: the receiver credited {credited} but the cluster booked {booked} as paid");
            Check(owed >= 0, $"{peer}: paid more than was owed (still owed {owed})");
            Check((long)fulfilled == owed + booked, $"{peer}: fulfilled {fulfilled} != owed {owed} + booked {booked}");
            Check(last is not null && last.CumulativeWei == booked * WeiPerUnit, $"{peer}: last claim {last?.CumulativeWei} wei != booked {booked} × {WeiPerUnit}");
            Check(channelRows == 1, $"{peer}: {channelRows} payer channel rows in the shared store");
        }
        Check(cluster.Receiver("c2").Killed, "c2: the receiver never killed a node");
        output.WriteLine($"run {seed}: " + string.Join("; ", report));
        var (verifyCode, verifyOut) = await cluster.VerifyLedgerAsync();
        Check(verifyCode == 0, $"ledger verify exited {verifyCode}: {verifyOut}");
        if (violations.Count > 0) output.WriteLine(cluster.Logs());
        Assert.True(violations.Count == 0, $"run {seed}: {violations.Count} violations:\n" + string.Join("\n", violations));
    }

    /// <summary>
    /// The receiving connector's EVM side for one paying peer ("cluster"): a real claim receiver on its own
    /// ledger and SQLite settlement store, fed by the BTP clients connected to each node.
    /// </summary>
    private sealed class ClaimSide : IDisposable
    {
        private readonly MemoryLedger _ledger = new();
        private readonly string _dir = Directory.CreateTempSubdirectory("m2m-evm-receiver-").FullName;
        private readonly HashSet<string> _channels = [];
        private readonly Lock _lock = new();
        private int _accepted;

        public ClaimSide(string rpcUrl, string contract)
        {
            var settings = new EvmPeerSettings
            {
                RpcUrl = new Uri(rpcUrl), ChainId = EvmNodeFixture.ChainId, Contract = contract, PeerAddress = Payer.Address, DepositWei = BigInteger.Pow(10, 18), DisputePeriodSeconds = 3600,
            };
            Store = EvmClaimStore.Open(Path.Combine(_dir, "settlements.db"));
            Receiver = new EvmClaimReceiver([new EvmPeer("cluster", "USD", 9, settings)], Recipient.Key, _ledger, Store, TimeProvider.System, NullLogger.Instance);
        }

        public EvmClaimStore Store { get; }
        public EvmClaimReceiver Receiver { get; }
        public bool KillSenderOnFirstClaim { get; set; }
        public bool Killed { get; private set; }
        public Func<int, bool>? Kill { get; set; }
        public int Accepted => Volatile.Read(ref _accepted);

        public IReadOnlyCollection<string> Channels
        {
            get { lock (_lock) return [.. _channels]; }
        }

        public async Task StartAsync()
        {
            await _ledger.CreateAccountsAsync([PeerAccounts.PeerAccount("cluster", "USD", 9, null)]);
            await Receiver.StartAsync(CancellationToken.None);
        }

        public async Task<BtpProtocolData?> HandleAsync(int node, BtpProtocolData entry)
        {
            var reply = await Receiver.HandleAsync("cluster", entry.ProtocolName, entry.Data);
            if (reply is null) return null;
            Interlocked.Increment(ref _accepted);
            lock (_lock) _channels.Add(Receiver.Store.Latest("cluster")!.ChannelId);
            bool kill;
            lock (_lock)
            {
                kill = KillSenderOnFirstClaim && !Killed;
                if (kill) Killed = true;
            }
            // Accepted and credited; the node that sent it dies before it hears so (or books the payment).
            if (kill && Kill is not null) Kill(node);
            return new BtpProtocolData(entry.ProtocolName, BtpContentType.ApplicationJson, reply.Value.ToArray());
        }

        /// <summary>What this side's ledger credited the paying peer.</summary>
        public async Task<ulong> CreditedAsync() =>
            (ulong)(await _ledger.LookupAccountAsync(PeerAccounts.PeerAccountId("cluster", PeerAccounts.LedgerFor("USD", 9))))!.CreditsPosted;

        public void Dispose()
        {
            Receiver.Dispose();
            try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>The receiver's BTP connection to one node: fulfills payments (preimage in the data), hands claims to its side.</summary>
    private sealed class ClaimPeer : IBtpMessageHandler, IAsyncDisposable
    {
        private readonly BtpClient _client;
        private readonly ClaimSide _side;
        private readonly int _node;
        private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private ClaimPeer(int port, string id, int node, ClaimSide side)
        {
            _side = side;
            _node = node;
            _client = new BtpClient("connector", new Uri($"ws://127.0.0.1:{port}/"), id, $"{id}-secret", this, BtpLimits.Default, NullLogger.Instance);
            _client.Connected += _ => _connected.TrySetResult();
        }

        public static async Task<ClaimPeer> ConnectAsync(int port, string id, int node, ClaimSide side)
        {
            var peer = new ClaimPeer(port, id, node, side);
            peer._client.Start();
            // Three auth timeouts (as TestPeer.ConnectAsync): one attempt stalled on a loaded machine is retried, not a failure.
            try
            {
                await peer._connected.Task.WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (TimeoutException)
            {
                await peer.DisposeAsync();
                throw new TimeoutException($"{id} did not connect to 127.0.0.1:{port} in 30 s");
            }
            return peer;
        }

        public ValueTask<ReadOnlyMemory<byte>> HandleIlpAsync(BtpSession session, ReadOnlyMemory<byte> ilpPacket, CancellationToken ct)
        {
            IlpCodec.TryDecode(ilpPacket, out var packet, out _);
            var prepare = (IlpPrepare)packet!;
            IlpReply reply = prepare.Destination.StartsWith("peer.", StringComparison.Ordinal) || prepare.Data.Length != 32
                ? IlpRejects.Create(IlpErrorCode.F02_Unreachable, "test.receiver", "not a connector")
                : new IlpFulfill { Fulfillment = prepare.Data.ToArray() };
            return ValueTask.FromResult<ReadOnlyMemory<byte>>(IlpEncoder.ToArray(reply));
        }

        public async ValueTask<BtpProtocolData?> HandleSubProtocolAsync(BtpSession session, BtpProtocolData entry, CancellationToken ct) =>
            await _side.HandleAsync(_node, entry);

        public ValueTask DisposeAsync() => _client.DisposeAsync();
    }

    private sealed class Cluster : IAsyncDisposable
    {
        private static readonly string[] Receivers = ["c1", "c2"];
        private readonly List<(CliProcess Process, int Btp, int Http, string Dir)> _nodes = [];
        private readonly List<TestPeer> _alices = [];
        private readonly List<ClaimPeer> _claimPeers = [];
        private readonly Dictionary<string, ClaimSide> _sides = [];
        private readonly ITestOutputHelper _output;
        private string _url = "", _config = "";

        private Cluster(ITestOutputHelper output) => _output = output;

        public ClaimSide Receiver(string peer) => _sides[peer];

        public static async Task<Cluster> StartAsync(PostgresServer postgres, string rpcUrl, string contract, ITestOutputHelper output)
        {
            var c = new Cluster(output);
            try
            {
                await c.StartCoreAsync(postgres, rpcUrl, contract);
                return c;
            }
            catch
            {
                await c.DisposeAsync();
                throw;
            }
        }

        private async Task StartCoreAsync(PostgresServer postgres, string rpcUrl, string contract)
        {
            _url = postgres.ConnectionString(await postgres.CreateDatabaseAsync());
            var watch = Stopwatch.StartNew();
            var starting = new List<Task>();
            for (int i = 0; i < 3; i++)
            {
                string dir = Directory.CreateTempSubdirectory($"m2m-evm-settle-node{i}-").FullName;
                string config = Path.Combine(dir, "config.yaml");
                await File.WriteAllTextAsync(config, Config(rpcUrl, contract));
                if (i == 0) _config = config;
                int btp = CliProcess.FreePort(), http = CliProcess.FreePort();
                var env = new Dictionary<string, string>
                {
                    ["BTP_SERVER_PORT"] = btp.ToString(CultureInfo.InvariantCulture), ["HEALTH_CHECK_PORT"] = http.ToString(CultureInfo.InvariantCulture),
                    ["BIND_ADDRESS"] = "127.0.0.1", ["NODE_ID"] = $"node{i}", ["LEDGER_POSTGRES_URL"] = _url, ["EVM_PRIVATE_KEY"] = Payer.Key,
                };
                // Each node in its own directory, as on its own machine: nothing but PostgreSQL (and the chain) is shared.
                var p = CliProcess.StartIn(dir, env, "run", "--config", config);
                _nodes.Add((p, btp, http, dir));
                starting.Add(CliProcess.WaitForHealth(http, p, TimeSpan.FromSeconds(90)));
            }
            await Task.WhenAll(starting);
            foreach (var peer in Receivers)
            {
                var side = new ClaimSide(rpcUrl, contract) { Kill = KillNode };
                await side.StartAsync();
                _sides[peer] = side;
            }
            for (int i = 0; i < _nodes.Count; i++)
            {
                _alices.Add(await TestPeer.ConnectAsync(_nodes[i].Btp, "alice", "alice-secret"));
                foreach (var peer in Receivers) _claimPeers.Add(await ClaimPeer.ConnectAsync(_nodes[i].Btp, peer, i, _sides[peer]));
            }
            _output.WriteLine($"cluster of {_nodes.Count} nodes up in {watch.Elapsed.TotalSeconds:F1} s");
        }

        private bool KillNode(int node)
        {
            var (process, _, _, _) = _nodes[node];
            using var os = Process.GetProcessById(process.Id);
            os.Kill();
            _output.WriteLine($"receiver: killed node{node} (pid {process.Id}) after accepting its claim");
            return true;
        }

        private static string Config(string rpcUrl, string contract)
        {
            string Peer(string id) =>
                $"  - {{ id: {id}, authToken: {id}-secret, settlement: {{ threshold: {Threshold}, settleTo: 0, method: evm, evm: {{ rpcUrl: \"{rpcUrl}\", chainId: {EvmNodeFixture.ChainId}, contract: \"{contract}\", peerAddress: \"{Recipient.Address}\", depositWei: '1000000000000000000', disputePeriodSeconds: 3600 }} }} }}\n";
            return "nodeId: node\nilpAddress: g.node\nledger: { backend: postgres }\nlimits: { settlementLeaseMs: 2000 }\npeers:\n"
                + "  - { id: alice, authToken: alice-secret }\n"
                + string.Concat(Receivers.Select(Peer))
                + "routes:\n" + string.Concat(Receivers.Select(r => $"  - {{ prefix: g.{r}, nextHop: {r} }}\n"));
        }

        /// <summary>Sends <paramref name="count"/> payments of <paramref name="amount"/> from alice to <paramref name="peer"/>, spread over the live nodes at once.</summary>
        public async Task<ulong> SendAsync(string peer, int count, ulong amount, Random random)
        {
            var alices = Enumerable.Range(0, _nodes.Count).Where(i => !_nodes[i].Process.HasExited).Select(i => _alices[i]).ToList();
            var sends = Enumerable.Range(0, count).Select(_ => alices[random.Next(alices.Count)]).Select(a => a.SendAsync(Payment($"g.{peer}.x", amount)));
            var replies = await Task.WhenAll(sends);
            Assert.All(replies, r => Assert.IsType<IlpFulfill>(r));
            return (ulong)count * amount;
        }

        private static IlpPrepare Payment(string destination, ulong amount)
        {
            var preimage = RandomNumberGenerator.GetBytes(32);
            return new IlpPrepare
            {
                Amount = amount, ExpiresAt = TestPeer.TruncateToMilliseconds(DateTimeOffset.UtcNow.AddSeconds(20)),
                ExecutionCondition = SHA256.HashData(preimage), Destination = destination, Data = preimage,
            };
        }

        /// <summary>Until the peer is settled as <paramref name="done"/> says (<see cref="SharedLedgerQueries.WaitSettledAsync"/>); after 90 s it returns anyway.</summary>
        public async Task WaitAsync(string peer, Func<long, bool> done)
        {
            if (!await SharedLedgerQueries.WaitSettledAsync(_url, peer, done)) _output.WriteLine($"{peer}: not settled within 90 s");
        }

        public Task<(long Owed, long Booked)> BalancesAsync(string peer) => SharedLedgerQueries.BalancesAsync(_url, peer);

        /// <summary>Payer channel rows for the peer in the shared store (0 when the table does not exist: the pre-issue-15 per-node files).</summary>
        public async Task<long> PayerChannelsAsync(string peer)
        {
            await using var conn = new NpgsqlConnection(_url);
            await conn.OpenAsync();
            await using (var exists = new NpgsqlCommand("SELECT to_regclass('evm_channels') IS NOT NULL", conn))
                if (!(bool)(await exists.ExecuteScalarAsync())!) return 0;
            await using var cmd = new NpgsqlCommand("SELECT count(*) FROM evm_channels WHERE peer_id = $1", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = peer });
            return Convert.ToInt64(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
        }

        public async Task<(int Code, string Output)> VerifyLedgerAsync()
        {
            for (int attempt = 1; ; attempt++)
            {
                var (code, stdout, stderr) = await CliProcess.RunAsync(new Dictionary<string, string> { ["LEDGER_POSTGRES_URL"] = _url, ["EVM_PRIVATE_KEY"] = Payer.Key }, "ledger", "verify", "--config", _config);
                if (code == 0 || attempt == 3 || !(stdout + stderr).Contains("ledger unavailable", StringComparison.Ordinal)) return (code, stdout + stderr);
                _output.WriteLine($"ledger verify: {stderr.Trim()}; retrying");
            }
        }

        public string Logs() => string.Join("\n", _nodes.Select((n, i) => $"--- node{i} stdout:\n{n.Process.Stdout}\n--- stderr:\n{n.Process.Stderr}"));

        public async ValueTask DisposeAsync()
        {
            foreach (var p in _alices) await p.DisposeAsync();
            foreach (var p in _claimPeers) await p.DisposeAsync();
            foreach (var (process, _, _, dir) in _nodes)
            {
                process.Dispose();
                try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
            }
            foreach (var side in _sides.Values) side.Dispose();
        }
    }
}
