namespace M2M.Core.Ilp;

/// <summary>ILP addresses per RFC 15: a scheme then one or more dot-separated segments.</summary>
public static class IlpAddress
{
    /// <summary>RFC 15 maximum address length.</summary>
    public const int MaxLength = 1023;

    private static readonly string[] Schemes = ["g", "private", "example", "peer", "self", "test", "test1", "test2", "test3", "local"];

    /// <summary>True when <paramref name="address"/> is a valid ILP address (RFC 15).</summary>
    public static bool IsValid(ReadOnlySpan<char> address) => Validate(address) is null;

    /// <summary>Returns null when valid, else a reason naming what is wrong.</summary>
    public static string? Validate(ReadOnlySpan<char> address)
    {
        if (address.IsEmpty) return "address is empty";
        if (address.Length > MaxLength) return $"address is {address.Length} characters, the maximum is {MaxLength}";
        int dot = address.IndexOf('.');
        if (dot < 0) return "address has no segment after the allocation scheme";
        if (!IsScheme(address[..dot])) return $"'{address[..dot]}' is not an allocation scheme (g, private, example, peer, self, test, test1-3, local)";
        var rest = address[(dot + 1)..];
        foreach (var segment in rest.Split('.'))
        {
            var s = rest[segment];
            if (s.IsEmpty) return "address has an empty segment";
            foreach (char c in s)
            {
                if (!IsSegmentChar(c)) return $"character '{c}' is not allowed (letters, digits, '_', '~', '-')";
            }
        }
        return null;
    }

    /// <summary>Validates an address whose bytes came off the wire (IA5/ASCII).</summary>
    public static bool IsValidAscii(ReadOnlySpan<byte> address)
    {
        if (address.Length is 0 or > MaxLength) return false;
        Span<char> chars = address.Length <= 256 ? stackalloc char[address.Length] : new char[address.Length];
        for (int i = 0; i < address.Length; i++)
        {
            if (address[i] > 0x7F) return false;
            chars[i] = (char)address[i];
        }
        return IsValid(chars);
    }

    private static bool IsScheme(ReadOnlySpan<char> s)
    {
        foreach (var scheme in Schemes)
        {
            if (s.SequenceEqual(scheme)) return true;
        }
        return false;
    }

    private static bool IsSegmentChar(char c) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_' or '~' or '-';
}
