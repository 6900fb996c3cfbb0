using System.Security.Cryptography;
using System.Text;

namespace M2M.Core.Stream;

/// <summary>
/// The STREAM cryptography (RFC 29 §4, byte-identical with ilp-protocol-stream's crypto-node.js):
/// <list type="bullet">
/// <item>shared secret = HMAC-SHA256(HMAC-SHA256(serverSecret, "ilp_stream_shared_secret"), token)</item>
/// <item>encryption key = HMAC-SHA256(sharedSecret, "ilp_stream_encryption")</item>
/// <item>fulfillment key = HMAC-SHA256(sharedSecret, "ilp_stream_fulfillment"); fulfillment = HMAC-SHA256(fulfillmentKey, prepare data); condition = SHA-256(fulfillment)</item>
/// <item>ciphertext layout: IV (12) ‖ GCM tag (16) ‖ AES-256-GCM(plaintext)</item>
/// </list>
/// </summary>
public static class StreamCrypto
{
    public const int IvLength = 12;
    public const int TagLength = 16;
    /// <summary>What encryption adds to a plaintext (ilp-protocol-stream's ENCRYPTION_OVERHEAD).</summary>
    public const int Overhead = IvLength + TagLength;
    public const int KeyLength = 32;

    private static readonly byte[] SharedSecretString = Encoding.UTF8.GetBytes("ilp_stream_shared_secret");
    private static readonly byte[] EncryptionString = Encoding.UTF8.GetBytes("ilp_stream_encryption");
    private static readonly byte[] FulfillmentString = Encoding.UTF8.GetBytes("ilp_stream_fulfillment");

    public static byte[] SharedSecretFromToken(ReadOnlySpan<byte> serverSecret, ReadOnlySpan<byte> token) =>
        HMACSHA256.HashData(HMACSHA256.HashData(serverSecret, SharedSecretString), token);

    public static byte[] EncryptionKey(ReadOnlySpan<byte> sharedSecret) => HMACSHA256.HashData(sharedSecret, EncryptionString);

    public static byte[] FulfillmentKey(ReadOnlySpan<byte> sharedSecret) => HMACSHA256.HashData(sharedSecret, FulfillmentString);

    public static byte[] Fulfillment(ReadOnlySpan<byte> fulfillmentKey, ReadOnlySpan<byte> prepareData) => HMACSHA256.HashData(fulfillmentKey, prepareData);

    public static byte[] Condition(ReadOnlySpan<byte> fulfillment) => SHA256.HashData(fulfillment);

    public static byte[] Encrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> plaintext)
    {
        var output = new byte[Overhead + plaintext.Length];
        RandomNumberGenerator.Fill(output.AsSpan(0, IvLength));
        using var gcm = new AesGcm(key, TagLength);
        gcm.Encrypt(output.AsSpan(0, IvLength), plaintext, output.AsSpan(Overhead), output.AsSpan(IvLength, TagLength));
        return output;
    }

    /// <summary>False when the data is too short, was encrypted with another key, or was altered.</summary>
    public static bool TryDecrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data, out byte[] plaintext)
    {
        plaintext = [];
        if (data.Length < Overhead || key.Length != KeyLength) return false;
        var result = new byte[data.Length - Overhead];
        using var gcm = new AesGcm(key, TagLength);
        try
        {
            gcm.Decrypt(data[..IvLength], data[Overhead..], data.Slice(IvLength, TagLength), result);
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
        plaintext = result;
        return true;
    }

    /// <summary>base64url without padding, as ilp-protocol-stream writes tokens into addresses.</summary>
    public static string Base64Url(ReadOnlySpan<byte> bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static bool TryFromBase64Url(string text, out byte[] bytes)
    {
        bytes = [];
        string b64 = text.Replace('-', '+').Replace('_', '/');
        b64 += (b64.Length % 4) switch { 2 => "==", 3 => "=", 0 => "", _ => "!" };
        try
        {
            bytes = Convert.FromBase64String(b64);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
