using M2M.Migrations;

namespace M2M.Process.Tests;

/// <summary>`ledger import`: 1.x balances come over once, Σ stays 0, a second import changes nothing.</summary>
[Collection("data")]
[Trait("Tier", "process")]
public class LedgerImportTests
{
    [Fact]
    public async Task Import_is_idempotent_keeps_the_sum_at_zero_and_dry_run_writes_nothing()
    {
        using var node = new DataTestNode("import");
        string file = Path.Combine(node.Dir, "balances.json");
        File.WriteAllText(file, """
            {"format": "m2m-balances/1", "nodeId": "import", "balances": [
              {"peerId": "alice", "asset": "USD", "scale": 9, "balance": "-700"},
              {"peerId": "bob", "asset": "USD", "scale": 9, "balance": "1500"},
              {"peerId": "carol", "asset": "USD", "scale": 9, "balance": "0"}
            ]}
            """);
        var dry = await node.Cli(null, "ledger", "import", file, "--dry-run");
        Assert.True(dry.Code == 0, dry.Stderr);
        Assert.False(File.Exists(node.LedgerPath));

        var first = await node.Cli(null, "ledger", "import", file);
        Assert.True(first.Code == 0, first.Stderr);
        Assert.Contains("2 imported, 0 already present", first.Stdout);
        string sha = SqliteFiles.Sha256(node.LedgerPath);
        var second = await node.Cli(null, "ledger", "import", file);
        Assert.True(second.Code == 0, second.Stderr);
        Assert.Contains("0 imported, 2 already present", second.Stdout);

        string balances = await DataTestNode.Balances(node.LedgerPath);
        Assert.Contains("peer:alice:USD/9 -700 ", balances);
        Assert.Contains("peer:bob:USD/9 1500 ", balances);
        Assert.Contains("settlement:USD/9 -800 ", balances);
        var verify = await node.Cli(null, "ledger", "verify");
        Assert.True(verify.Code == 0, verify.Stdout);

        // A CSV export and bad input: one clear line, exit 1.
        string csv = Path.Combine(node.Dir, "balances.csv");
        File.WriteAllText(csv, "peer_id,asset,scale,balance\nbob,USD,9,12x\n");
        var bad = await node.Cli(null, "ledger", "import", csv);
        Assert.Equal(1, bad.Code);
        Assert.Contains("line 2: balance '12x'", bad.Stderr);
        Assert.Single(bad.Stderr.Trim().Split('\n'));
        var wrongAsset = """{"format": "m2m-balances/1", "balances": [{"peerId": "bob", "asset": "EUR", "scale": 2, "balance": "5"}]}""";
        File.WriteAllText(file, wrongAsset);
        var mismatch = await node.Cli(null, "ledger", "import", file);
        Assert.Equal(1, mismatch.Code);
        Assert.Contains("configured with USD/9", mismatch.Stderr);
        Assert.True(sha.Length == 64);
    }
}
