using M2M.Core.Ilp;
using M2M.Migrations;
using M2M.Server.Data;
using M2M.TestKit;
using Xunit.Abstractions;

namespace M2M.Process.Tests;

/// <summary>R22: online backup during load, restore to a scratch install, nothing fulfilled lost; 1 flipped byte always detected.</summary>
[Collection("data")]
[Trait("Tier", "process")]
public class BackupRestoreTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Backup_under_load_restores_every_fulfilled_packet_and_detects_corruption()
    {
        using var node = new DataTestNode("backup");
        var connector = await node.StartAsync();
        var sent = new List<(ulong Amount, bool Fulfilled)>();
        string backupDir = Path.Combine(node.Dir, "backup-under-load");
        ulong fulfilledBeforeBackup;
        (int Code, string Stdout, string Stderr) backup;
        await using (var alice = await TestPeer.ConnectAsync(node.BtpPort, "alice", "alice-secret"))
        await using (var bob = await TestPeer.ConnectAsync(node.BtpPort, "bob", "bob-secret"))
        {
            using var stop = new CancellationTokenSource();
            var workers = Enumerable.Range(0, 8).Select(w => Task.Run(() => Load(alice, w, sent, stop.Token))).ToList();
            await Task.Delay(1500);
            fulfilledBeforeBackup = Fulfilled(sent);
            backup = await node.Cli(null, "backup", "--full", "--verify", "--out", backupDir);
            await Task.Delay(300);
            stop.Cancel();
            await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(30));
        }
        output.WriteLine(backup.Stdout + backup.Stderr);
        Assert.True(backup.Code == 0, backup.Stdout + backup.Stderr);
        Assert.Contains("backup verified", backup.Stdout);
        Assert.Contains("verify: ledger: restored into", backup.Stdout);
        // Output is redirected here, so progress is the plain form: a start and a done line per step, with totals and rate.
        Assert.Matches(@"backup: ledger: copy: 0 of [0-9.]+ (KiB|MiB)\n", backup.Stdout);
        Assert.Matches(@"backup: ledger: copy: done, [0-9.]+ (KiB|MiB) in [0-9.]+ s", backup.Stdout);
        Assert.Matches(@"verify: ledger: invariants: done, [0-9,]+ in [0-9.]+ s", backup.Stdout);
        int sentCount;
        lock (sent) sentCount = sent.Count;
        output.WriteLine($"{sentCount} packets sent, {fulfilledBeforeBackup} units fulfilled before the backup started, total {Fulfilled(sent)}");
        Assert.True(fulfilledBeforeBackup > 1000, "too little load before the backup to mean anything");
        await DataTestNode.StopAsync(connector);

        // Restore into a scratch install (same config, other paths): every Fulfill seen before the backup is posted.
        using var scratch = new DataTestNode("restored");
        File.Copy(node.Config, scratch.Config, overwrite: true);
        var restore = await scratch.Cli(null, "restore", "--from", backupDir);
        Assert.True(restore.Code == 0, restore.Stdout + restore.Stderr);
        Assert.Matches(@"restore: ledger: done, [0-9.]+ (KiB|MiB) in [0-9.]+ s", restore.Stdout);
        Assert.Equal("ok", SqliteFiles.IntegrityCheck(scratch.LedgerPath));
        var verify = await scratch.Cli(null, "ledger", "verify", "--orphan-grace-seconds", "3600");
        Assert.True(verify.Code == 0, verify.Stdout + verify.Stderr);
        var alicePosted = await DataTestNode.DebitsPosted(scratch.LedgerPath, "peer:alice");
        Assert.True(alicePosted >= fulfilledBeforeBackup, $"a Fulfill seen before the backup is missing: {alicePosted} < {fulfilledBeforeBackup}");
        Assert.True(alicePosted <= Fulfilled(sent) + 1000 * 8UL, "more posted than was ever sent");

        // 1 flipped byte at 10 positions of the ledger copy: detected every time, and by the CLI too.
        string file = Path.Combine(backupDir, "ledger.db");
        byte[] original = File.ReadAllBytes(file);
        var random = new Random(42);
        for (int i = 0; i < 10; i++)
        {
            int pos = i == 0 ? 0 : i == 9 ? original.Length - 1 : random.Next(original.Length);
            var bytes = (byte[])original.Clone();
            bytes[pos] ^= 0x01;
            File.WriteAllBytes(file, bytes);
            var problems = await BackupService.VerifyAsync(backupDir, _ => { });
            Assert.True(problems.Count > 0, $"flipped byte at {pos} not detected");
            Assert.Contains("sha256", problems[0]);
            if (i == 5)
            {
                var cli = await scratch.Cli(null, "restore", "--from", backupDir, "--force");
                Assert.Equal(1, cli.Code);
                Assert.Contains("failed verification", cli.Stderr);
            }
        }
        File.WriteAllBytes(file, original);
        Assert.Empty(await BackupService.VerifyAsync(backupDir, _ => { }));
    }

    private static async Task Load(TestPeer alice, int worker, List<(ulong, bool)> sent, CancellationToken stop)
    {
        var random = new Random(worker);
        while (!stop.IsCancellationRequested)
        {
            ulong amount = (ulong)random.Next(1, 1000);
            var reply = await alice.SendAsync(TestPeer.Payment("g.bob.x", amount, 5));
            lock (sent) sent.Add((amount, reply is IlpFulfill));
            await Task.Delay(20, CancellationToken.None); // ~8 workers x 40/s: about 200 packets/s as R22 asks
        }
    }

    private static ulong Fulfilled(List<(ulong Amount, bool Fulfilled)> sent)
    {
        lock (sent) return sent.Where(s => s.Fulfilled).Aggregate(0UL, (acc, s) => acc + s.Amount);
    }
}
