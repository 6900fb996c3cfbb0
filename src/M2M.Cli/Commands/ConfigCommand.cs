using System.CommandLine;
using M2M.Server.Configuration;

namespace M2M.Cli;

internal static class ConfigCommand
{
    /// <summary>Read by the CLI or by Docker Compose rather than by the config loader; not a typo in a .env.</summary>
    private static readonly HashSet<string> ReadElsewhere = new(StringComparer.Ordinal)
    {
        "LOG_FORMAT", "WALLET_DB_PATH", "WALLET_PASSWORD", "IMAGE_NAME", "IMAGE_TAG", "COMPOSE_PROJECT_NAME",
    };

    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "YAML config file, or a .env file (then its variables are checked on top of the current environment)" };
        var envFile = CommonOptions.EnvFile();
        var validate = new Command("validate", "Check a config file (with the current environment and the env file applied, exactly as `run` would) without starting anything.") { file, envFile };
        validate.SetAction(parse => Validate(parse.GetValue(file)!, parse.GetValue(envFile)));
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

    /// <summary>", exchange: 2 rates, spread 0.002, rate source URL" when rates are configured; the URL without user info or query.</summary>
    private static string Exchange(ExchangeSettings e) => !e.Enabled ? ""
        : $", exchange: {e.Rates.Count} rates, spread {e.Spread.ToString(System.Globalization.CultureInfo.InvariantCulture)}"
          + (e.Source is null ? "" : $", rate source {new UriBuilder(e.Source.Url) { UserName = "", Password = "", Query = "" }.Uri}");

    private static int Validate(string path, string? envFileOption)
    {
        if (!File.Exists(path)) return Fail($"config file '{path}' does not exist");
        bool envFile = !ConfigMigrator.IsYaml(path);
        var read = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            // As `run`: the environment wins over the env file (the one validated, else --env-file, else ./.env), which wins over the YAML.
            string? envPath = envFile ? path : EnvFile.Resolve(envFileOption);
            var fromFile = envPath is null ? [] : EnvFile.Read(envPath);
            var loader = new ConfigLoader(name =>
            {
                read.Add(name);
                return ConfigLoader.Variable(name) ?? (fromFile.TryGetValue(name, out var v) ? v : null);
            });
            // A .env names its YAML with CONFIG_FILE (or none: the built-in default).
            var s = loader.Load(envFile ? loader.ResolvePath(null) : path);
            foreach (var warning in loader.Warnings) Console.Error.WriteLine($"warning: {warning}");
            if (envPath is not null)
            {
                var overridden = fromFile.Keys.Where(n => ConfigLoader.Variable(n) is not null).ToList();
                if (overridden.Count > 0) Console.WriteLine($"note: {EnvFile.Describe(envPath, fromFile.Count, overridden)}");
            }
            foreach (var name in fromFile.Keys.Where(n => !read.Contains(n) && !ReadElsewhere.Contains(n)))
                Console.Error.WriteLine($"warning: {envPath}: {name} is not read by the connector (misspelt, or a variable of another program?)");
            Console.WriteLine($"{path}: valid. nodeId {s.NodeId}, address {s.IlpAddress}, BTP port {s.BtpServerPort}, HTTP port {s.HealthCheckPort}, {s.Peers.Count} peers, {s.Routes.Count} routes, tracing {(s.Tracing.Enabled ? "on" : "off")}{Exchange(s.Exchange)}");
            return 0;
        }
        catch (ConfigException e)
        {
            return CommonOptions.ReportConfigErrors(e);
        }
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
}
