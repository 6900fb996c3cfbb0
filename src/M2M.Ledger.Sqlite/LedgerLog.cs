using System.Buffers.Binary;
using System.Text;
using M2M.Core.Ledger;

namespace M2M.Ledger.Sqlite;

/// <summary>
/// The durable log's record format: one <c>ledger_log</c> row per committed batch, its
/// <c>records</c> BLOB a version byte followed by compact little-endian records, in apply order:
/// an account (its whole new state), a transfer (with the state it has at the end of the batch)
/// or a pending transfer's new state. Applying a row's records to the <c>accounts</c> and
/// <c>transfers</c> tables (the projections) gives exactly what writing the batch there would.
/// Fixed-width binary instead of hex and decimal text: ~110 bytes per transfer, no formatting.
/// </summary>
internal static class LedgerLog
{
    public const byte Version = 1;
    private const byte AccountTag = 1;
    private const byte TransferTag = 2;
    private const byte StateTag = 3;
    private const byte NoState = 0xFF;
    private const long NoTimeout = long.MinValue;

    /// <summary>Capacity a batch needs at most (names are the only variable part).</summary>
    public static int MaxSize(LedgerChanges batch)
    {
        int size = 1 + batch.Transfers.Count * 107 + batch.States.Count * 18;
        foreach (var a in batch.Accounts.Values) size += 117 + Encoding.UTF8.GetMaxByteCount(a.Name.Length);
        return size;
    }

    /// <summary>Writes <paramref name="batch"/> into <paramref name="buffer"/> (at least <see cref="MaxSize"/>); returns the bytes used.</summary>
    public static int Encode(LedgerChanges batch, Span<byte> buffer)
    {
        var w = new Writer(buffer);
        w.Byte(Version);
        foreach (var a in batch.Accounts.Values)
        {
            w.Byte(AccountTag);
            w.U128(a.Id);
            w.U32(a.Ledger);
            w.U16(a.Code);
            w.U16((ushort)a.Flags);
            w.U128(a.DebitLimit);
            w.U128(a.DebitsPending);
            w.U128(a.DebitsPosted);
            w.U128(a.CreditsPending);
            w.U128(a.CreditsPosted);
            w.I64(a.CreatedAt.ToUnixTimeMilliseconds());
            w.Text(a.Name);
        }
        foreach (var t in batch.Transfers)
        {
            w.Byte(TransferTag);
            w.U128(t.Id);
            w.U128(t.DebitAccountId);
            w.U128(t.CreditAccountId);
            w.U128(t.Amount);
            w.U128(t.PendingId);
            w.U32(t.Ledger);
            w.U16(t.Code);
            w.U16((ushort)t.Flags);
            w.I64(t.TimeoutAt is { } at ? at.ToUnixTimeMilliseconds() : NoTimeout);
            w.Byte(batch.States.TryGetValue(t.Id, out var s) ? (byte)s : NoState);
            w.I64(t.CreatedAt.ToUnixTimeMilliseconds());
        }
        foreach (var (id, state) in batch.States)
        {
            if (batch.Inserted.Contains(id)) continue; // carried by its transfer record
            w.Byte(StateTag);
            w.U128(id);
            w.Byte((byte)state);
        }
        return w.Position;
    }

    /// <summary>Applies one row's records to <paramref name="into"/>, after what it already holds.</summary>
    public static void Decode(ReadOnlySpan<byte> data, LedgerChanges into)
    {
        var r = new Reader(data);
        byte version = r.Byte();
        if (version != Version) throw new InvalidDataException($"ledger_log record version {version} is not known to this release (it knows {Version})");
        while (!r.AtEnd)
        {
            switch (r.Byte())
            {
                case AccountTag:
                    var a = new Account
                    {
                        Id = r.U128(),
                        Ledger = r.U32(),
                        Code = r.U16(),
                        Flags = (AccountFlags)r.U16(),
                        DebitLimit = r.U128(),
                        DebitsPending = r.U128(),
                        DebitsPosted = r.U128(),
                        CreditsPending = r.U128(),
                        CreditsPosted = r.U128(),
                        CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.I64()),
                    };
                    into.SetAccount(a with { Name = r.Text() });
                    break;
                case TransferTag:
                    var t = new Transfer
                    {
                        Id = r.U128(),
                        DebitAccountId = r.U128(),
                        CreditAccountId = r.U128(),
                        Amount = r.U128(),
                        PendingId = r.U128(),
                        Ledger = r.U32(),
                        Code = r.U16(),
                        Flags = (TransferFlags)r.U16(),
                        TimeoutAt = r.I64() is var at && at != NoTimeout ? DateTimeOffset.FromUnixTimeMilliseconds(at) : null,
                    };
                    byte state = r.Byte();
                    t = t with { CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.I64()) };
                    into.Insert(t, state == NoState ? null : (PendingState)state);
                    break;
                case StateTag:
                    into.SetState(r.U128(), (PendingState)r.Byte());
                    break;
                default:
                    throw new InvalidDataException("ledger_log row holds an unknown record type");
            }
        }
    }

    private ref struct Writer(Span<byte> buffer)
    {
        private readonly Span<byte> _buffer = buffer;
        public int Position { get; private set; }

        public void Byte(byte v) => _buffer[Position++] = v;

        public void U16(ushort v)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(_buffer[Position..], v);
            Position += 2;
        }

        public void U32(uint v)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_buffer[Position..], v);
            Position += 4;
        }

        public void I64(long v)
        {
            BinaryPrimitives.WriteInt64LittleEndian(_buffer[Position..], v);
            Position += 8;
        }

        public void U128(UInt128 v)
        {
            BinaryPrimitives.WriteUInt128LittleEndian(_buffer[Position..], v);
            Position += 16;
        }

        public void Text(string s)
        {
            int n = Encoding.UTF8.GetBytes(s, _buffer[(Position + 4)..]);
            BinaryPrimitives.WriteInt32LittleEndian(_buffer[Position..], n);
            Position += 4 + n;
        }
    }

    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _position;

        public readonly bool AtEnd => _position >= _data.Length;

        public byte Byte() => _data[_position++];

        public ushort U16()
        {
            var v = BinaryPrimitives.ReadUInt16LittleEndian(_data[_position..]);
            _position += 2;
            return v;
        }

        public uint U32()
        {
            var v = BinaryPrimitives.ReadUInt32LittleEndian(_data[_position..]);
            _position += 4;
            return v;
        }

        public long I64()
        {
            var v = BinaryPrimitives.ReadInt64LittleEndian(_data[_position..]);
            _position += 8;
            return v;
        }

        public UInt128 U128()
        {
            var v = BinaryPrimitives.ReadUInt128LittleEndian(_data[_position..]);
            _position += 16;
            return v;
        }

        public string Text()
        {
            int n = BinaryPrimitives.ReadInt32LittleEndian(_data[_position..]);
            if (n < 0 || n > _data.Length - _position - 4) throw new InvalidDataException("ledger_log row holds a truncated account name");
            var s = Encoding.UTF8.GetString(_data.Slice(_position + 4, n));
            _position += 4 + n;
            return s;
        }
    }
}

/// <summary>
/// A set of ledger changes in apply order, merged (last write wins per account and per pending
/// state; transfers in insert order): a batch the callers fill, the committed batches not yet
/// projected, or the log rows a snapshot overlays on the tables.
/// </summary>
internal class LedgerChanges
{
    public Dictionary<UInt128, Account> Accounts { get; } = [];
    public List<Transfer> Transfers { get; } = [];
    public HashSet<UInt128> Inserted { get; } = [];
    public Dictionary<UInt128, PendingState> States { get; } = [];

    public bool IsEmpty => Accounts.Count == 0 && Transfers.Count == 0 && States.Count == 0;

    public void SetAccount(Account a) => Accounts[a.Id] = a;

    public void Insert(Transfer t, PendingState? state)
    {
        Transfers.Add(t);
        Inserted.Add(t.Id);
        if (state is { } s) States[t.Id] = s;
    }

    public void SetState(UInt128 id, PendingState state) => States[id] = state;

    /// <summary>Appends <paramref name="later"/>'s changes after these.</summary>
    public void Merge(LedgerChanges later)
    {
        foreach (var a in later.Accounts.Values) Accounts[a.Id] = a;
        foreach (var t in later.Transfers)
        {
            Transfers.Add(t);
            Inserted.Add(t.Id);
        }
        foreach (var (id, s) in later.States) States[id] = s;
    }

    public virtual void Clear()
    {
        Accounts.Clear();
        Transfers.Clear();
        Inserted.Clear();
        States.Clear();
    }
}
