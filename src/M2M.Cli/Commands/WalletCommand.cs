using System.CommandLine;
using M2M.Wallets;
using Microsoft.Data.Sqlite;

namespace M2M.Cli;

/// <summary>
/// `wallet init | backup | restore`: the agent wallet store's master seed and its encrypted exports. The password
/// comes from --password-file, else WALLET_PASSWORD, else WALLET_PASSWORD_FILE; never from argv. Secrets are
/// never echoed, except the new mnemonic that `init` prints once for the operator to write down.
/// </summary>
internal static class WalletCommand
{
    public static Command Create()
    {
        var command = new Command("wallet", "Agent wallet store: create or import the master seed, encrypted backup and restore.");
        command.Subcommands.Add(Init());
        command.Subcommands.Add(Backup());
        command.Subcommands.Add(Restore());
        return command;
    }

    private static Option<string> PathOption() => new("--path")
    {
        Description = "Wallet database (default: $WALLET_DB_PATH, else ./data/wallet/agent-wallets.db)",
        DefaultValueFactory = _ => M2M.Server.Configuration.ConfigLoader.Variable("WALLET_DB_PATH") is { Length: > 0 } p ? p : "./data/wallet/agent-wallets.db",
    };

    private static Option<string?> PasswordFileOption() => new("--password-file")
    {
        Description = "File holding the wallet password (default: $WALLET_PASSWORD, else the file named by $WALLET_PASSWORD_FILE)",
    };

    private static Option<string?> ExportPasswordFileOption() => new("--export-password-file")
    {
        Description = "File holding a separate password for the backup file (default: the wallet password)",
    };

    private static Command Init()
    {
        var path = PathOption();
        var passwordFile = PasswordFileOption();
        var import = new Option<string?>("--import-mnemonic-file")
        {
            Description = "Import this BIP-39 mnemonic instead of generating one ('-' reads it from stdin); never pass words on the command line",
        };
        var command = new Command("init", "Create the wallet store with a new master seed (printed once), or import a mnemonic (also seals a store migrated from 1.0).")
            { path, passwordFile, import };
        command.SetAction(parse => Guard(() => RunInit(parse.GetValue(path)!, parse.GetValue(passwordFile), parse.GetValue(import))));
        return command;
    }

    private static int RunInit(string path, string? passwordFile, string? importFile)
    {
        var password = Password(passwordFile);
        string? mnemonic = importFile is null ? null : ReadMnemonic(importFile);
        using var store = WalletStore.Init(path, password, mnemonic);
        var agents = store.List().Count;
        if (mnemonic is not null)
        {
            Console.WriteLine($"wallet store {Path.GetFullPath(path)}: imported mnemonic sealed (AES-256-GCM, PBKDF2-SHA256 {WalletSeedVault.DefaultIterations} iterations)" +
                              (agents > 0 ? $"; all {agents} existing agents' addresses re-derived and matched" : ""));
            return 0;
        }
        Console.WriteLine($"wallet store {Path.GetFullPath(path)} created (AES-256-GCM, PBKDF2-SHA256 {WalletSeedVault.DefaultIterations} iterations).");
        Console.WriteLine();
        Console.WriteLine("Write down this 24-word recovery phrase and keep it offline. It is shown ONLY NOW; with it (and the");
        Console.WriteLine("same agent ids) every agent address can be re-derived. Anyone who has it controls the agents' funds.");
        Console.WriteLine();
        var words = store.ExportMnemonic().Split(' ');
        for (int i = 0; i < words.Length; i += 4)
            Console.WriteLine("  " + string.Join("  ", words.Skip(i).Take(4).Select((w, j) => $"{i + j + 1,2}. {w,-10}")).TrimEnd());
        Console.WriteLine();
        return 0;
    }

    private static Command Backup()
    {
        var path = PathOption();
        var passwordFile = PasswordFileOption();
        var exportPasswordFile = ExportPasswordFileOption();
        var output = new Option<string>("--out") { Description = "Backup file to write (refused if it exists)", Required = true };
        var command = new Command("backup", "Write an encrypted export of the wallet store (sealed seed, wallets, audit), then verify it by decrypting it.")
            { output, path, passwordFile, exportPasswordFile };
        command.SetAction(parse => Guard(() => RunBackup(parse.GetValue(path)!, parse.GetValue(output)!, parse.GetValue(passwordFile), parse.GetValue(exportPasswordFile))));
        return command;
    }

    private static int RunBackup(string path, string output, string? passwordFile, string? exportPasswordFile)
    {
        var password = Password(passwordFile);
        var exportPassword = exportPasswordFile is null ? password : ReadSecretFile(exportPasswordFile, "--export-password-file");
        if (File.Exists(output)) throw new WalletBackupException($"backup file {output} already exists; refusing to overwrite it");
        Console.Error.WriteLine($"opening {Path.GetFullPath(path)} ...");
        using var store = WalletStore.OpenExisting(path, password);
        Console.Error.WriteLine("encrypting and verifying the export ...");
        var h = WalletBackup.Export(store, exportPassword, output);
        Console.WriteLine($"backup written: {Path.GetFullPath(output)}");
        Console.WriteLine($"agents: {h.Agents}, wallets rows: {h.WalletRows}, audit rows: {h.AuditRows}, schema {h.SchemaVersion}, payload sha256 {h.PayloadSha256}");
        Console.WriteLine("verified: decrypted again and compared with the store (rows, addresses, sealed seed)");
        return 0;
    }

    private static Command Restore()
    {
        var path = PathOption();
        var passwordFile = PasswordFileOption();
        var exportPasswordFile = ExportPasswordFileOption();
        var from = new Option<string>("--from") { Description = "Backup file written by `wallet backup`", Required = true };
        var dryRun = new Option<bool>("--dry-run") { Description = "Verify the backup completely and write nothing" };
        var force = new Option<bool>("--force") { Description = "Replace an existing wallet store (its old file is kept beside it)" };
        var command = new Command("restore", "Restore the wallet store from an encrypted backup, verified (every address re-derived from the seed) before anything is replaced.")
            { from, path, dryRun, force, passwordFile, exportPasswordFile };
        command.SetAction(parse => Guard(() => RunRestore(parse.GetValue(path)!, parse.GetValue(from)!, parse.GetValue(dryRun), parse.GetValue(force),
            parse.GetValue(passwordFile), parse.GetValue(exportPasswordFile))));
        return command;
    }

    private static int RunRestore(string path, string from, bool dryRun, bool force, string? passwordFile, string? exportPasswordFile)
    {
        var password = Password(passwordFile);
        var exportPassword = exportPasswordFile is null ? password : ReadSecretFile(exportPasswordFile, "--export-password-file");
        Console.Error.WriteLine($"verifying {Path.GetFullPath(from)} ...");
        var report = WalletBackup.Restore(from, exportPassword, password, path, force, dryRun);
        Console.WriteLine(report.Message);
        return 0;
    }

    /// <summary>One error line and exit 1 for every expected failure; nothing is half-written by any of them.</summary>
    private static int Guard(Func<int> run)
    {
        try
        {
            return run();
        }
        catch (Exception e) when (e is WalletPasswordException or WalletStoreException or WalletBackupException or FormatException
                                      or IOException or UnauthorizedAccessException or SqliteException or CliInputException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    private sealed class CliInputException(string message) : Exception(message);

    private static string Password(string? passwordFile)
    {
        if (passwordFile is not null) return ReadSecretFile(passwordFile, "--password-file");
        if (M2M.Server.Configuration.ConfigLoader.Variable("WALLET_PASSWORD") is { Length: > 0 } p) return p;
        if (M2M.Server.Configuration.ConfigLoader.Variable("WALLET_PASSWORD_FILE") is { Length: > 0 } f) return ReadSecretFile(f, "WALLET_PASSWORD_FILE");
        throw new CliInputException("no wallet password: set WALLET_PASSWORD or WALLET_PASSWORD_FILE, or pass --password-file FILE");
    }

    /// <summary>The file's text minus a trailing newline; never echoed.</summary>
    private static string ReadSecretFile(string file, string what)
    {
        if (!File.Exists(file)) throw new CliInputException($"{what}: file {file} does not exist");
        var text = File.ReadAllText(file).TrimEnd('\r', '\n');
        return text.Length > 0 ? text : throw new CliInputException($"{what}: file {file} is empty");
    }

    private static string ReadMnemonic(string file)
    {
        var text = file == "-" ? Console.In.ReadToEnd() : File.Exists(file) ? File.ReadAllText(file)
            : throw new CliInputException($"--import-mnemonic-file: file {file} does not exist");
        var words = string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return words.Length > 0 ? words : throw new CliInputException("--import-mnemonic-file: no words found");
    }
}
