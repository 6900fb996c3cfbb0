using System.CommandLine;

namespace M2M.Cli;

/// <summary>
/// Examples shown at the end of every command's --help, keyed by the command's path. Every
/// command has at least one (a test walks the tree), so a new command comes with its examples.
/// </summary>
internal static class HelpExamples
{
    private static readonly Dictionary<string, string[]> Examples = new(StringComparer.Ordinal)
    {
        [""] = ["m2m-connector run --config examples/single-node.yaml", "m2m-connector health", "m2m-connector <command> --help"],
        ["run"] = ["m2m-connector run --config examples/single-node.yaml", "LOG_FORMAT=json m2m-connector run --config /etc/m2m/config.yaml", "m2m-connector run --config config.yaml --env-file /etc/m2m/.env --standby"],
        ["config"] = ["m2m-connector config validate config.yaml", "m2m-connector config migrate .env --dry-run"],
        ["config validate"] = ["m2m-connector config validate config.yaml", "m2m-connector config validate .env"],
        ["config migrate"] = ["m2m-connector config migrate .env --dry-run", "m2m-connector config migrate config.yaml --out config.v2.yaml"],
        ["health"] = ["m2m-connector health", "m2m-connector health --url http://127.0.0.1:8081/health"],
        ["ledger"] = ["m2m-connector ledger verify --config config.yaml", "m2m-connector ledger balances"],
        ["ledger verify"] = ["m2m-connector ledger verify --config config.yaml"],
        ["ledger balances"] = ["m2m-connector ledger balances --config config.yaml"],
        ["ledger import"] = ["m2m-connector ledger import balances-1x.json --dry-run", "m2m-connector ledger import balances-1x.csv"],
        ["migrate-wallet"] = ["m2m-connector migrate-wallet --from=1.0 --to=2.0 --dry-run", "m2m-connector migrate-wallet --from=1.0 --to=2.0 --path ./data/wallet/agent-wallets.db"],
        ["wallet"] = ["WALLET_PASSWORD_FILE=/run/secrets/wallet m2m-connector wallet init", "m2m-connector wallet backup --out wallet.bak"],
        ["wallet init"] = ["WALLET_PASSWORD_FILE=/run/secrets/wallet m2m-connector wallet init", "m2m-connector wallet init --import-mnemonic-file mnemonic.txt"],
        ["wallet backup"] = ["m2m-connector wallet backup --out /backups/wallet-$(date +%F).bak"],
        ["wallet restore"] = ["m2m-connector wallet restore --from wallet.bak --dry-run", "m2m-connector wallet restore --from wallet.bak --force"],
        ["version"] = ["m2m-connector version"],
        ["backup"] = ["m2m-connector backup --full --verify", "m2m-connector backup --full --verify --out /backups/$(date +%F)", "m2m-connector backup --verify-only /backups/2026-12-01"],
        ["restore"] = ["m2m-connector restore --from /backups/2026-12-01 --dry-run", "m2m-connector restore --from /backups/2026-12-01 --force"],
        ["ping"] = ["BTP_PEER_SMOKE_TEST_SECRET=... m2m-connector ping --url ws://127.0.0.1:3000 --peer smoke-test"],
        ["accounts"] = ["m2m-connector accounts add agent1", "m2m-connector accounts list"],
        ["accounts add"] = ["m2m-connector accounts add agent1", "m2m-connector accounts add agent2 --asset-code USD --asset-scale 9"],
        ["accounts list"] = ["m2m-connector accounts list"],
        ["accounts remove"] = ["m2m-connector accounts remove agent1"],
        ["pay"] = ["m2m-connector pay --from agent1 --to '$example.com/bob' --amount 1000", "m2m-connector pay --from agent1 --to https://example.com/bob --amount 1000 --id order-42"],
        ["data"] = ["m2m-connector data check --config config.yaml"],
        ["data check"] = ["m2m-connector data check --config config.yaml"],
        ["peers"] = ["m2m-connector peers list", "m2m-connector peers add bob --url ws://bob.example:3000 --token s3cret --relation peer"],
        ["peers add"] = ["m2m-connector peers add bob --url ws://bob.example:3000 --token s3cret --relation peer", "m2m-connector peers add kid --relation child --token s3cret --credit-limit 1000000"],
        ["peers list"] = ["m2m-connector peers list", "m2m-connector peers list --url http://127.0.0.1:8081"],
        ["peers remove"] = ["m2m-connector peers remove bob", "m2m-connector peers remove bob --force"],
        ["routes"] = ["m2m-connector routes list", "m2m-connector routes add g.example bob"],
        ["routes add"] = ["m2m-connector routes add g.example bob", "m2m-connector routes add g.example.eu bob --priority 10"],
        ["routes list"] = ["m2m-connector routes list", "m2m-connector routes list --url http://127.0.0.1:8081"],
        ["routes remove"] = ["m2m-connector routes remove g.example"],
        ["completion"] = ["m2m-connector completion bash > /etc/bash_completion.d/m2m-connector", "m2m-connector completion zsh >> ~/.zshrc"],
    };

    /// <summary>Every example line by command path (for the test that parses them).</summary>
    public static IReadOnlyDictionary<string, string[]> All => Examples;

    /// <summary>Appends each command's examples to its description; returns the paths that have none.</summary>
    public static List<string> Apply(Command root)
    {
        var missing = new List<string>();
        Visit(root, "", missing);
        return missing;
    }

    private static void Visit(Command command, string path, List<string> missing)
    {
        if (Examples.TryGetValue(path, out var lines))
            command.Description += "\n\nExamples:\n" + string.Join("\n", lines.Select(l => "  " + l));
        else
            missing.Add(path.Length == 0 ? "(root)" : path);
        foreach (var sub in command.Subcommands)
            Visit(sub, path.Length == 0 ? sub.Name : path + " " + sub.Name, missing);
    }
}
