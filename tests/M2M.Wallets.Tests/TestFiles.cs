using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace M2M.Wallets.Tests;

internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("m2m-wallets-").FullName;
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose()
    {
        try { Directory.Delete(Path, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

internal static class TestFiles
{
    public const string TestMnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    public const int FastIterations = 1_000;

    public static string FixtureDir => System.IO.Path.Combine(AppContext.BaseDirectory, "fixtures");
    public static string Fixture => System.IO.Path.Combine(FixtureDir, "agent-wallets-1.0.db");

    public static string CopyFixture(TempDir dir)
    {
        var path = dir.File("agent-wallets.db");
        File.Copy(Fixture, path);
        return path;
    }

    public static string Sha256(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    public static long Count(string path, string sql)
    {
        using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToInt64(cmd.ExecuteScalar());
    }

    public static List<(string Agent, int Index, string Chain, string Address, string Status, long Created)> Wallets(string path)
    {
        using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT agent_id, derivation_index, chain, address, status, created_at FROM wallets ORDER BY derivation_index, chain";
        using var r = cmd.ExecuteReader();
        var list = new List<(string, int, string, string, string, long)>();
        while (r.Read()) list.Add((r.GetString(0), r.GetInt32(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetInt64(5)));
        return list;
    }

    public sealed record ExpectedAgent(string AgentId, int DerivationIndex, string EvmAddress, string XrpAddress, long CreatedAt, string State);
    private sealed record ExpectedFile(string Mnemonic, List<ExpectedAgent> Agents);

    public static List<ExpectedAgent> Expected()
    {
        var json = File.ReadAllText(System.IO.Path.Combine(FixtureDir, "expected-addresses.json"));
        var f = JsonSerializer.Deserialize<ExpectedFile>(json, new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
        Assert.Equal(TestMnemonic, f.Mnemonic);
        return f.Agents;
    }
}
