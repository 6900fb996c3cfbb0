using System.CommandLine;
using System.Text.RegularExpressions;
using M2M.Server.Configuration;

namespace M2M.Cli;

internal static partial class ConfigCommand
{
    /// <summary>Read by the CLI or by Docker Compose rather than by the config loader; not a typo in a .env.</summary>
    private static readonly HashSet<string> ReadElsewhere = new(StringComparer.Ordinal)
    {
        "LOG_FORMAT", "WALLET_DB_PATH", "WALLET_PASSWORD", "IMAGE_NAME", "IMAGE_TAG", "COMPOSE_PROJECT_NAME",
    };

    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "YAML config file, or a .env file (then its variables are checked on top of the current environment)" };
        var validate = new Command("validate", "Check a config file (with the current environment applied) without starting anything.") { file };
        validate.SetAction(parse => Validate(parse.GetValue(file)!));
        return new Command("config", "Configuration tools.") { validate, MigrateCommand() };
    }

    private static Command MigrateCommand()
    {
        var file = new Argument<string>("file") { Description = "A 1.x .env or YAML config file" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Only report what would change; write nothing" };
        var output = new Option<string?>("--out") { Description = "Write the migrated file here instead of in place" };
        var migrate = new Command("migrate", "Rewrite a .env or YAML file to the 2.0 names (SETTLEMENT_METHOD → SETTLEMENT_PREFERENCE, BTP_PORT → BTP_SERVER_PORT), one line per change; values, comments and order are kept. A .bak copy is written first.")
        {
            file, dryRun, output,
        };
        migrate.SetAction(parse => Migrate(parse.GetValue(file)!, parse.GetValue(dryRun), parse.GetValue(output)));
        return migrate;
    }

    private static int Validate(string path)
    {
        if (!File.Exists(path)) return Fail($"config file '{path}' does not exist");
        bool envFile = !ConfigMigrator.IsYaml(path);
        var fromFile = envFile ? ReadEnvFile(path) : [];
        var read = new HashSet<string>(StringComparer.Ordinal);
        var loader = new ConfigLoader(name =>
        {
            read.Add(name);
            return fromFile.TryGetValue(name, out var v) ? v : M2M.Server.Configuration.ConfigLoader.Variable(name);
        });
        try
        {
            // A .env names its YAML with CONFIG_FILE (or none: the built-in default).
            var s = loader.Load(envFile ? loader.ResolvePath(null) : path);
            foreach (var warning in loader.Warnings) Console.Error.WriteLine($"warning: {warning}");
            foreach (var name in fromFile.Keys.Where(n => !read.Contains(n) && !ReadElsewhere.Contains(n)))
                Console.Error.WriteLine($"warning: {path}: {name} is not read by the connector (misspelt, or a variable of another program?)");
            Console.WriteLine($"{path}: valid. nodeId {s.NodeId}, address {s.IlpAddress}, BTP port {s.BtpServerPort}, HTTP port {s.HealthCheckPort}, {s.Peers.Count} peers, {s.Routes.Count} routes, tracing {(s.Tracing.Enabled ? "on" : "off")}");
            return 0;
        }
        catch (ConfigException e)
        {
            return CommonOptions.ReportConfigErrors(e);
        }
    }

    /// <summary>NAME=value lines of a .env (comments, blanks and 'export ' allowed; matching quotes removed).</summary>
    private static Dictionary<string, string> ReadEnvFile(string path)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(path))
        {
            var m = EnvLine().Match(line);
            if (!m.Success) continue;
            string value = m.Groups["value"].Value.Trim();
            if (value.Length >= 2 && (value[0] == '"' || value[0] == '\'') && value[^1] == value[0]) value = value[1..^1];
            values[m.Groups["name"].Value] = value;
        }
        return values;
    }

    private static int Migrate(string path, bool dryRun, string? output)
    {
        if (!File.Exists(path)) return Fail($"config file '{path}' does not exist");
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Fail($"cannot read '{path}': {e.Message}");
        }
        var (migrated, changes) = ConfigMigrator.Migrate(text, ConfigMigrator.IsYaml(path));
        foreach (var change in changes) Console.WriteLine($"{path}:{change.Line}: {change.Description}");
        string target = output ?? path;
        if (changes.Count == 0 && target == path)
        {
            Console.WriteLine($"{path}: already uses the 2.0 names; nothing to change");
            return 0;
        }
        if (dryRun)
        {
            Console.WriteLine($"dry run: {changes.Count} change(s); {target} not written");
            return 0;
        }
        try
        {
            if (File.Exists(target))
            {
                string backup = BackupPath(target);
                File.Copy(target, backup);
                Console.WriteLine($"backup: {backup}");
            }
            string temp = target + ".tmp";
            File.WriteAllText(temp, migrated);
            File.Move(temp, target, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Fail($"cannot write '{target}': {e.Message}");
        }
        Console.WriteLine($"{target}: written with {changes.Count} change(s); check it with 'm2m-connector config validate {target}'");
        return 0;
    }

    /// <summary>FILE.bak, or FILE.bak.N when earlier backups exist (never overwrites one).</summary>
    private static string BackupPath(string target)
    {
        string backup = target + ".bak";
        for (int n = 1; File.Exists(backup); n++) backup = $"{target}.bak.{n}";
        return backup;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return 1;
    }

    [GeneratedRegex(@"^\s*(export\s+)?(?<name>[A-Za-z_][A-Za-z0-9_]*)\s*=(?<value>.*)$")]
    private static partial Regex EnvLine();
}
