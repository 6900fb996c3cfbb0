using System.Text;

namespace M2M.Btp;

public class BtpException : Exception
{
    public BtpException(string message) : base(message) { }
    public BtpException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>The peer answered a request with a BTP ERROR.</summary>
public sealed class BtpRemoteException : BtpException
{
    public BtpRemoteException(string code, string name, string triggeredAt, ReadOnlyMemory<byte> data)
        : base($"Peer returned BTP error {code} {name}")
    {
        Code = code;
        ErrorName = name;
        TriggeredAt = triggeredAt;
        Data = data;
    }

    public string Code { get; }
    public string ErrorName { get; }
    public string TriggeredAt { get; }

    /// <summary>Error data (a private copy).</summary>
    public new ReadOnlyMemory<byte> Data { get; }

    /// <summary>Error data as UTF-8 text, as btp-packet interprets it.</summary>
    public string DataText => Encoding.UTF8.GetString(Data.Span);
}

/// <summary>The session closed before the request completed, or was already closed.</summary>
public sealed class BtpSessionClosedException : BtpException
{
    public BtpSessionClosedException(string peerId)
        : base($"BTP session with '{peerId}' is closed") => PeerId = peerId;

    public string PeerId { get; }
}
