using System.Security.Cryptography;
using System.Text;
using NBitcoin;

namespace M2M.Wallets;

/// <summary>The sealed (encrypted) mnemonic as stored in the <c>vault</c> table: AES-256-GCM under a
/// PBKDF2-SHA256 key. The plaintext is the UTF-8 BIP-39 mnemonic (so a backup can re-export it).</summary>
public sealed record SealedSeed(string Kdf, int Iterations, byte[] Salt, byte[] Nonce, byte[] Tag, byte[] Ciphertext)
{
    public const string Pbkdf2Sha256 = "pbkdf2-sha256";
    public override string ToString() => $"SealedSeed({Kdf}, {Iterations} iterations)";
}

/// <summary>The unlocked master seed of the wallet store. Holds the BIP-32 master key in memory only;
/// never logs or prints the mnemonic or the seed.</summary>
public sealed class WalletSeedVault : IDisposable
{
    public const int DefaultIterations = 600_000;
    public const int MinIterations = 1_000;
    private const int SaltLength = 16, NonceLength = 12, TagLength = 16, KeyLength = 32;
    private static readonly byte[] Aad = Encoding.ASCII.GetBytes("m2m-agent-wallets/seed/v2");

    private readonly Mnemonic _mnemonic;
    private ExtKey? _master;

    private WalletSeedVault(Mnemonic mnemonic)
    {
        _mnemonic = mnemonic;
        _master = mnemonic.DeriveExtKey();
    }

    /// <summary>A fresh 24-word English mnemonic (256 bits of entropy).</summary>
    public static Mnemonic GenerateMnemonic() => new(Wordlist.English, WordCount.TwentyFour);

    /// <summary>Parses an imported mnemonic (checksum verified). The message never echoes the words.</summary>
    public static Mnemonic ParseMnemonic(string words)
    {
        ArgumentNullException.ThrowIfNull(words);
        Mnemonic m;
        try { m = new Mnemonic(words.Trim(), Wordlist.English); }
        catch (Exception) { throw new FormatException("invalid BIP-39 mnemonic: unknown words or wrong length"); }
        if (!m.IsValidChecksum) throw new FormatException("invalid BIP-39 mnemonic: bad checksum");
        return m;
    }

    public static WalletSeedVault FromMnemonic(Mnemonic mnemonic) => new(mnemonic);

    /// <summary>Encrypts the mnemonic under <paramref name="password"/>.</summary>
    public static SealedSeed Seal(Mnemonic mnemonic, string password, int iterations = DefaultIterations)
    {
        CheckPassword(password);
        if (iterations < MinIterations) throw new ArgumentOutOfRangeException(nameof(iterations), $"PBKDF2 iterations must be >= {MinIterations}");
        var salt = RandomNumberGenerator.GetBytes(SaltLength);
        var nonce = RandomNumberGenerator.GetBytes(NonceLength);
        var plain = Encoding.UTF8.GetBytes(mnemonic.ToString());
        var key = DeriveKey(password, salt, iterations);
        try
        {
            var cipher = new byte[plain.Length];
            var tag = new byte[TagLength];
            using var aes = new AesGcm(key, TagLength);
            aes.Encrypt(nonce, plain, cipher, tag, Aad);
            return new SealedSeed(SealedSeed.Pbkdf2Sha256, iterations, salt, nonce, tag, cipher);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Decrypts the vault. A wrong password (GCM tag mismatch) → <see cref="WalletPasswordException"/>.</summary>
    public static WalletSeedVault Unseal(SealedSeed sealedSeed, string password)
    {
        ArgumentNullException.ThrowIfNull(sealedSeed);
        CheckPassword(password);
        if (sealedSeed.Kdf != SealedSeed.Pbkdf2Sha256) throw new WalletStoreException($"unsupported vault KDF '{sealedSeed.Kdf}'");
        var key = DeriveKey(password, sealedSeed.Salt, sealedSeed.Iterations);
        var plain = new byte[sealedSeed.Ciphertext.Length];
        try
        {
            using var aes = new AesGcm(key, TagLength);
            aes.Decrypt(sealedSeed.Nonce, sealedSeed.Ciphertext, sealedSeed.Tag, plain, Aad);
            return new WalletSeedVault(new Mnemonic(Encoding.UTF8.GetString(plain), Wordlist.English));
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new WalletPasswordException();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
            CryptographicOperations.ZeroMemory(key);
        }
    }

    public DerivedAddresses Derive(int index) => WalletDerivation.Derive(Master, index);

    /// <summary>The mnemonic words, for an explicit backup export only. Callers must not log the result.</summary>
    public string RevealMnemonic() => _mnemonic.ToString();

    public SealedSeed Seal(string password, int iterations = DefaultIterations) => Seal(_mnemonic, password, iterations);

    private ExtKey Master => _master ?? throw new ObjectDisposedException(nameof(WalletSeedVault));

    public void Dispose() => _master = null;

    public override string ToString() => "WalletSeedVault(***)";

    private static byte[] DeriveKey(string password, byte[] salt, int iterations) =>
        Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashAlgorithmName.SHA256, KeyLength);

    private static void CheckPassword(string password)
    {
        if (string.IsNullOrEmpty(password)) throw new ArgumentException("wallet password must not be empty", nameof(password));
    }
}
