using System.Numerics;
using M2M.Core.Ledger;
using M2M.Ledger.Sqlite;
using M2M.Server.Accounting;
using M2M.Server.Configuration;
using M2M.Settlement.Coordination;
using M2M.Settlement.Evm;
using M2M.TestKit;
using Microsoft.Data.Sqlite;

namespace M2M.Server.Tests;

/// <summary>
/// Issue 15 on SQLite: the settlement records and the EVM channel state live in the ledger's own file (ledger
/// migration 0005). A new settlement record is written in the same commit of the ledger's writer as the pending
/// debit that reserves its amount, so both survive together or neither does; a settlements.db left by an earlier
/// release is imported once and renamed *.imported. Real SQLite files.
/// </summary>
[Trait("Tier", "integration")]
public sealed class SettlementInLedgerTests : IDisposable
{
    private static readonly uint UsdLedger = PeerAccounts.LedgerFor("USD", 9);
    private static readonly UInt128 Bob = PeerAccounts.PeerAccountId("bob", UsdLedger);
    private readonly string _dir = Directory.CreateTempSubdirectory("m2m-settle-in-ledger-").FullName;

    private string LedgerPath => Path.Combine(_dir, "data", "ledger.db");

    [Fact]
    public async Task A_new_settlement_record_commits_with_its_reservation_and_both_survive_a_reopen()
    {
        var record = Record("bob", 700, SettlementState.Pending);
        await using (var ledger = await LedgerOwingBobAsync(1_000))
        using (var store = SettlementStore.OpenInLedger(ledger))
        {
            var (outcome, created) = await store.CreateAsync("bob", DateTimeOffset.UtcNow, TimeSpan.Zero, _ => Task.FromResult<SettlementRecord?>(record), Reservation, default);
            Assert.Equal((CreateOutcome.Created, record.Id), (outcome, created!.Id));
            Assert.True(store.InLedger);
        }
        await using (var reopened = SqliteLedger.Open(LedgerPath))
        using (var store = SettlementStore.OpenInLedger(reopened))
        {
            Assert.Equal((UInt128)700, (await reopened.LookupAccountAsync(Bob))!.DebitsPending);
            Assert.Equal(record.Id, store.OpenFor("bob")!.Id);
            // The coordinator's reserve step before paying finds the same transfer: one reservation however it is reached.
            Assert.Equal(CreateTransferResult.Exists, (await reopened.CreateTransfersAsync([Reservation(record)]))[0]);
        }
    }

    [Fact]
    public async Task When_the_rows_cannot_be_written_the_reservation_is_not_kept_either()
    {
        var record = Record("bob", 700, SettlementState.Pending);
        await using (var ledger = await LedgerOwingBobAsync(1_000))
        {
            await Assert.ThrowsAsync<LedgerUnavailableException>(() => ledger.CreateTransfersWithAsync([Reservation(record)], (c, tx) =>
            {
                using var cmd = c.CreateCommand();
                cmd.Transaction = tx;
                cmd.CommandText = "INSERT INTO no_such_table VALUES (1)";
                cmd.ExecuteNonQuery();
            }, default));
            // The failed commit reloaded the ledger from its file: the reservation applied in memory is gone.
            Assert.Equal((UInt128)0, await PendingOfBobAsync(ledger));
            // ... and the ledger goes on: the same call with rows that can be written lands both.
            using var store = SettlementStore.OpenInLedger(ledger);
            var (outcome, _) = await store.CreateAsync("bob", DateTimeOffset.UtcNow, TimeSpan.Zero, _ => Task.FromResult<SettlementRecord?>(record), Reservation, default);
            Assert.Equal(CreateOutcome.Created, outcome);
        }
        await using var reopened = SqliteLedger.Open(LedgerPath);
        Assert.Equal((UInt128)700, (await reopened.LookupAccountAsync(Bob))!.DebitsPending);
    }

    [Fact]
    public async Task A_settlements_db_from_an_earlier_release_is_imported_into_the_ledger_once()
    {
        string legacy = Path.Combine(_dir, "data", "settlements.db");
        Directory.CreateDirectory(Path.GetDirectoryName(legacy)!);
        var open = Record("bob", 500, SettlementState.Submitted);
        var done = Record("carol", 300, SettlementState.Confirmed);
        using (var old = SettlementStore.Open(legacy))
        {
            old.CreateOrGetOpen(open);
            old.CreateOrGetOpen(done);
        }
        using (var oldChannels = EvmChannelStore.Open(legacy)) oldChannels.SetChannel("bob", "0xaa");
        var settings = TestConnector.TwoPeers() with { Ledger = new LedgerSettings { Backend = LedgerBackend.Sqlite, Path = LedgerPath } };
        var log = new ListLogger();

        for (int start = 1; start <= 2; start++)
        {
            await using var ledger = SqliteLedger.Open(LedgerPath);
            using var store = ConnectorSettlement.OpenStore(settings, log, ledger);
            using var channels = ConnectorSettlement.OpenEvmChannelStore(settings, log, ledger);
            Assert.True(((SettlementStore)store).InLedger);
            Assert.Equal(new[] { open.Id, done.Id }.Order(), store.List().Select(r => r.Id).Order());
            Assert.Equal((SettlementState.Submitted, 500UL), (store.Get(open.Id)!.State, store.Get(open.Id)!.Amount));
            Assert.Equal(("0xaa", BigInteger.Zero), channels.Channel("bob"));
            Assert.False(File.Exists(legacy));
            Assert.True(File.Exists(legacy + ".imported"));
        }
        var line = Assert.Single(log.Lines, l => l.Text.Contains("settlements.db imported into the SQLite ledger", StringComparison.Ordinal));
        Assert.Contains("2 settlements", line.Text, StringComparison.Ordinal);
        Assert.Contains("1 EVM channels", line.Text, StringComparison.Ordinal);
        Assert.Equal(2L, CountInLedger("settlements"));
    }

    private async Task<SqliteLedger> LedgerOwingBobAsync(ulong owed)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(LedgerPath)!);
        var ledger = SqliteLedger.Open(LedgerPath);
        var alice = PeerAccounts.PeerAccount("alice", "USD", 9, null);
        await ledger.CreateAccountsAsync([alice, PeerAccounts.PeerAccount("bob", "USD", 9, null), PeerAccounts.SettlementAccount("USD", 9)]);
        // What we owe bob: a posted credit of his account.
        var owe = new Transfer { Id = PeerAccounts.NewTransferId(), DebitAccountId = alice.Id, CreditAccountId = Bob, Amount = owed, Ledger = UsdLedger, Code = TransferIds.PacketCode };
        Assert.Equal(CreateTransferResult.Ok, (await ledger.CreateTransfersAsync([owe]))[0]);
        return ledger;
    }

    private static async Task<UInt128> PendingOfBobAsync(SqliteLedger ledger)
    {
        // The writer reloads memory before its next batch; a flush waits for that.
        for (int i = 0; i < 50; i++)
        {
            try
            {
                await ledger.FlushAsync();
                break;
            }
            catch (LedgerUnavailableException)
            {
                await Task.Delay(100);
            }
        }
        return (await ledger.LookupAccountAsync(Bob))!.DebitsPending;
    }

    private static Transfer Reservation(SettlementRecord r) => new()
    {
        Id = TransferIds.SettlementReserve(r.Id), DebitAccountId = PeerAccounts.PeerAccountId(r.PeerId, UsdLedger),
        CreditAccountId = PeerAccounts.SettlementAccount("USD", 9).Id, Amount = r.Amount, Ledger = UsdLedger, Code = TransferIds.SettlementCode,
        Flags = TransferFlags.Pending, TimeoutAt = r.CreatedAt + TimeSpan.FromDays(30),
    };

    private static SettlementRecord Record(string peer, ulong amount, SettlementState state)
    {
        var now = DateTimeOffset.UtcNow;
        return new SettlementRecord
        {
            Id = Guid.NewGuid(), PeerId = peer, Method = "rfc38", Amount = amount, Token = "USD", State = state, CreatedAt = now, UpdatedAt = now, NextAttemptAt = now,
        };
    }

    private long CountInLedger(string table)
    {
        using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = LedgerPath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT count(*) FROM {table}";
        return (long)cmd.ExecuteScalar()!;
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
