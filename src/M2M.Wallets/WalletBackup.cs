using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace M2M.Wallets;

/// <summary>The clear-text header of a backup: what it holds, and how its payload is encrypted. Bound to the
/// payload as AES-GCM associated data, so any change to it fails decryption.</summary>
public sealed record WalletBackupHeader(
    string Format, int FormatVersion, string SchemaVersion, DateTimeOffset CreatedAt,
    string Kdf, int Iterations, byte[] Salt, byte[] Nonce,
    int Agents, int WalletRows, int AuditRows, string PayloadSha256)
{
    public const string FormatName = "m2m-wallet-backup";
}

public sealed record WalletRestoreReport(string Target, bool DryRun, int Agents, int WalletRows, int AuditRows, DateTimeOffset BackupCreatedAt, string? PreviousStoreCopy, string Message);

/// <summary>
/// Encrypted export of the whole store (`wallet backup` / `wallet restore`). File layout, one item per line:
/// <code>
/// M2M-WALLET-BACKUP 1
/// {header JSON}                      ← <see cref="WalletBackupHeader"/>, the AES-GCM associated data
/// base64(ciphertext || 16-byte tag)  ← AES-256-GCM, key = PBKDF2-SHA256(export password, header.salt, header.iterations)
/// sha256 {hex of the three lines above, newlines included}
/// </code>
/// The plaintext is JSON: the sealed seed (still sealed under the wallet password), every wallets and wallet_audit
/// row and the schema version; its SHA-256 is <c>payloadSha256</c>. The trailing file checksum tells a corrupted
/// file apart from a wrong password.
/// </summary>
public static class WalletBackup
{
    private const string Magic = "M2M-WALLET-BACKUP 1";
    private const int SaltLength = 16, NonceLength = 12, TagLength = 16, KeyLength = 32;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private sealed record Payload(int SchemaVersion, SealedSeed Vault, long VaultCreatedAt, List<WalletRow> Wallets, List<AuditRow> Audit);

    /// <summary>Writes the backup to <paramref name="outPath"/> (refusing to overwrite), then reads it back, decrypts it and
    /// compares it with what was exported before moving it into place.</summary>
    public static WalletBackupHeader Export(WalletStore store, string exportPassword, string outPath, int iterations = WalletSeedVault.DefaultIterations, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (string.IsNullOrEmpty(exportPassword)) throw new ArgumentException("export password must not be empty", nameof(exportPassword));
        if (File.Exists(outPath)) throw new WalletBackupException($"backup file {outPath} already exists; refusing to overwrite it");
        var snapshot = store.Snapshot();
        var payload = new Payload(WalletSchema.V2, snapshot.Vault, snapshot.VaultCreatedAt, snapshot.Wallets.ToList(), snapshot.Audit.ToList());
        var plain = JsonSerializer.SerializeToUtf8Bytes(payload, Json);
        var header = new WalletBackupHeader(WalletBackupHeader.FormatName, 1, WalletSchema.Label(WalletSchema.V2), (time ?? TimeProvider.System).GetUtcNow(),
            SealedSeed.Pbkdf2Sha256, iterations, RandomNumberGenerator.GetBytes(SaltLength), RandomNumberGenerator.GetBytes(NonceLength),
            snapshot.Wallets.Select(w => w.AgentId).Distinct(StringComparer.Ordinal).Count(), snapshot.Wallets.Count, snapshot.Audit.Count,
            Convert.ToHexString(SHA256.HashData(plain)).ToLowerInvariant());
        var bytes = Encode(header, plain, exportPassword);
        CryptographicOperations.ZeroMemory(plain);

        var dir = Path.GetDirectoryName(Path.GetFullPath(outPath))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(outPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            WritePrivate(tmp, bytes);
            var (readHeader, readBack) = Decode(tmp, exportPassword);
            if (readHeader.WalletRows != snapshot.Wallets.Count || readHeader.AuditRows != snapshot.Audit.Count
                || !readBack.Wallets.SequenceEqual(snapshot.Wallets) || readBack.Audit.Count != snapshot.Audit.Count
                || !readBack.Vault.Ciphertext.AsSpan().SequenceEqual(snapshot.Vault.Ciphertext))
                throw new WalletBackupException($"backup verification failed: {tmp} does not read back as what was exported");
            File.Move(tmp, outPath, overwrite: false);
            return header;
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    /// <summary>Checks and decrypts a backup without touching any store: the header and the agents it holds.</summary>
    public static (WalletBackupHeader Header, IReadOnlyList<string> Agents) Inspect(string backupPath, string exportPassword)
    {
        var (header, payload) = Decode(backupPath, exportPassword);
        return (header, payload.Wallets.Select(w => w.AgentId).Distinct(StringComparer.Ordinal).ToList());
    }

    /// <summary>Restores <paramref name="target"/> from a backup. Everything is verified on a temporary copy first (decrypts,
    /// checksums, the wallet password unseals the seed, every address re-derives from it); only then is the target replaced
    /// (an existing target only with <paramref name="force"/>; its old file is kept beside it).</summary>
    public static WalletRestoreReport Restore(string backupPath, string exportPassword, string walletPassword, string target, bool force, bool dryRun, TimeProvider? time = null)
    {
        var clock = time ?? TimeProvider.System;
        var targetExists = File.Exists(target) && new FileInfo(target).Length > 0;
        if (targetExists && !force && !dryRun)
            throw new WalletBackupException($"wallet store {target} already exists; refusing to overwrite it (add --force to replace it; the old file is kept as a copy)");
        var (header, payload) = Decode(backupPath, exportPassword);

        var dir = Path.GetDirectoryName(Path.GetFullPath(target))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(target)}.restore-{Guid.NewGuid():N}.tmp");
        try
        {
            try
            {
                WalletStore.WriteSnapshot(tmp, new WalletSnapshot(payload.Vault, payload.VaultCreatedAt, payload.Wallets, payload.Audit));
                WalletSchema.RestrictToOwner(tmp);
            }
            catch (SqliteException e) { throw new WalletBackupException($"backup content is not a valid 2.0 store: {e.Message}", e); }
            int agents;
            using (var store = WalletStore.OpenExisting(tmp, walletPassword, new WalletStoreOptions { TimeProvider = clock }))
            {
                agents = store.VerifyAddresses();
                if (!dryRun) store.AppendAudit("*", "restored", $"from backup created {header.CreatedAt:O}: {agents} agents, {header.WalletRows} wallets rows");
            }
            if (agents != header.Agents) throw new WalletBackupException($"backup header says {header.Agents} agents, the payload holds {agents}");
            if (dryRun)
                return new WalletRestoreReport(target, true, agents, header.WalletRows, header.AuditRows, header.CreatedAt, null,
                    $"dry run: backup verified ({agents} agents, {header.WalletRows} wallets rows, every address re-derived from the seed); " +
                    (targetExists ? $"{target} exists and would need --force; " : "") + "nothing written");
            var previous = targetExists ? KeepPrevious(target, clock) : null;
            File.Move(tmp, target, overwrite: true);
            CheckRestored(target, header);
            return new WalletRestoreReport(target, false, agents, header.WalletRows, header.AuditRows, header.CreatedAt, previous,
                $"restored {agents} agents ({header.WalletRows} wallets rows, {header.AuditRows} audit rows) to {target}; every address re-derived from the seed and matched" +
                (previous is null ? "" : $"; previous store kept as {previous}"));
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    private static string KeepPrevious(string target, TimeProvider clock)
    {
        var stamp = clock.GetUtcNow().UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'", CultureInfo.InvariantCulture);
        var copy = $"{target}.pre-restore-{stamp}";
        File.Copy(target, copy, overwrite: false);
        // A stale journal beside the old file must not be replayed into the restored one.
        foreach (var side in new[] { "-journal", "-wal", "-shm" })
            if (File.Exists(target + side)) File.Move(target + side, copy + side, overwrite: false);
        return copy;
    }

    private static void CheckRestored(string target, WalletBackupHeader header)
    {
        using var c = WalletSchema.OpenConnection(target, SqliteOpenMode.ReadOnly);
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM wallets";
        var rows = Convert.ToInt32(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
        if (WalletSchema.DetectVersion(c) != WalletSchema.V2 || rows != header.WalletRows)
            throw new WalletBackupException($"restored store {target} has {rows} wallets rows, expected {header.WalletRows}");
    }

    private static byte[] Encode(WalletBackupHeader header, byte[] plain, string password)
    {
        var headerLine = JsonSerializer.Serialize(header, Json);
        var aad = Encoding.UTF8.GetBytes(headerLine);
        var sealedBytes = new byte[plain.Length + TagLength];
        var key = Rfc2898DeriveBytes.Pbkdf2(password, header.Salt, header.Iterations, HashAlgorithmName.SHA256, KeyLength);
        try
        {
            using var aes = new AesGcm(key, TagLength);
            aes.Encrypt(header.Nonce, plain, sealedBytes.AsSpan(0, plain.Length), sealedBytes.AsSpan(plain.Length), aad);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
        var body = $"{Magic}\n{headerLine}\n{Convert.ToBase64String(sealedBytes)}\n";
        var bodyBytes = Encoding.UTF8.GetBytes(body);
        return [.. bodyBytes, .. Encoding.ASCII.GetBytes($"sha256 {Convert.ToHexString(SHA256.HashData(bodyBytes)).ToLowerInvariant()}\n")];
    }

    private static (WalletBackupHeader, Payload) Decode(string path, string password)
    {
        if (!File.Exists(path)) throw new WalletBackupException($"backup file {path} does not exist");
        var bytes = File.ReadAllBytes(path);
        var (headerLine, sealedB64) = CheckFraming(path, bytes);
        WalletBackupHeader header;
        byte[] sealedBytes;
        try
        {
            header = JsonSerializer.Deserialize<WalletBackupHeader>(headerLine, Json) ?? throw new JsonException("empty header");
            sealedBytes = Convert.FromBase64String(sealedB64);
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            throw new WalletBackupException($"backup file {path} has an unreadable header or body: {e.Message}", e);
        }
        if (header.Format != WalletBackupHeader.FormatName || header.FormatVersion != 1 || header.SchemaVersion != "2.0")
            throw new WalletBackupException($"backup file {path} is {header.Format} v{header.FormatVersion} schema {header.SchemaVersion}; this build reads {WalletBackupHeader.FormatName} v1 schema 2.0");
        if (header.Kdf != SealedSeed.Pbkdf2Sha256 || header.Iterations < WalletSeedVault.MinIterations || sealedBytes.Length < TagLength || header.Nonce is not { Length: NonceLength })
            throw new WalletBackupException($"backup file {path} has unsupported encryption parameters");
        var plain = Decrypt(header, headerLine, sealedBytes, password);
        if (!string.Equals(Convert.ToHexString(SHA256.HashData(plain)), header.PayloadSha256, StringComparison.OrdinalIgnoreCase))
            throw new WalletBackupException($"backup file {path}: payload sha256 does not match the header");
        var payload = JsonSerializer.Deserialize<Payload>(plain, Json) ?? throw new WalletBackupException($"backup file {path} has an empty payload");
        CryptographicOperations.ZeroMemory(plain);
        if (payload.SchemaVersion != WalletSchema.V2 || payload.Wallets.Count != header.WalletRows || payload.Audit.Count != header.AuditRows)
            throw new WalletBackupException($"backup file {path}: payload ({payload.Wallets.Count} wallets rows, {payload.Audit.Count} audit rows) does not match its header");
        return (header, payload);
    }

    /// <summary>Magic line, three newlines and the trailing file checksum; returns the header line and the body.</summary>
    private static (string Header, string Body) CheckFraming(string path, byte[] bytes)
    {
        var text = Encoding.UTF8.GetString(bytes);
        var lines = text.Split('\n');
        if (lines.Length != 5 || lines[0] != Magic || lines[4] != "" || !lines[3].StartsWith("sha256 ", StringComparison.Ordinal))
            throw new WalletBackupException($"backup file {path} is not an m2m wallet backup or is truncated/corrupted");
        var bodyLength = lines[0].Length + lines[1].Length + lines[2].Length + 3;
        var actual = Convert.ToHexString(SHA256.HashData(bytes.AsSpan(0, Math.Min(bodyLength, bytes.Length))));
        if (Encoding.UTF8.GetByteCount(text.AsSpan(0, bodyLength)) != bodyLength
            || !string.Equals(actual, lines[3]["sha256 ".Length..], StringComparison.OrdinalIgnoreCase))
            throw new WalletBackupException($"backup file {path} is corrupted: its sha256 does not match (changed or damaged since it was written)");
        return (lines[1], lines[2]);
    }

    private static byte[] Decrypt(WalletBackupHeader header, string headerLine, byte[] sealedBytes, string password)
    {
        var plain = new byte[sealedBytes.Length - TagLength];
        var key = Rfc2898DeriveBytes.Pbkdf2(password, header.Salt, header.Iterations, HashAlgorithmName.SHA256, KeyLength);
        try
        {
            using var aes = new AesGcm(key, TagLength);
            aes.Decrypt(header.Nonce, sealedBytes.AsSpan(0, plain.Length), sealedBytes.AsSpan(plain.Length), plain, Encoding.UTF8.GetBytes(headerLine));
            return plain;
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new WalletPasswordException("wrong backup password: the backup does not decrypt with it (the export password, which is the wallet password unless --export-password-file was used)");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    private static void WritePrivate(string path, byte[] bytes)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite; // owner-only, like a key file
        using var f = new FileStream(path, options);
        f.Write(bytes);
        f.Flush(flushToDisk: true);
    }
}
