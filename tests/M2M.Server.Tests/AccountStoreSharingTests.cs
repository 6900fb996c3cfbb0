using M2M.Server.Accounts;
using Xunit;

namespace M2M.Server.Tests;

/// <summary>Nodes started from one directory share accounts.db: they must agree on one STREAM server secret.</summary>
[Trait("Tier", "integration")]
public class AccountStoreSharingTests
{
    [Fact]
    public async Task Stores_opened_at_once_on_one_file_agree_on_the_stream_server_secret()
    {
        string dir = Directory.CreateTempSubdirectory("m2m-accounts-").FullName;
        try
        {
            string path = Path.Combine(dir, "accounts.db");
            using (AccountStore.Open(path)) { } // migrated once, as the first node does
            for (int round = 0; round < 100; round++)
            {
                foreach (var f in Directory.GetFiles(dir)) File.Delete(f);
                using (AccountStore.Open(path)) { }
                var stores = Enumerable.Range(0, 8).Select(_ => AccountStore.Open(path)).ToList();
                try
                {
                    // All eight ask at the same instant, each on its own thread and connection (as separate processes would).
                    using var start = new Barrier(stores.Count);
                    var secrets = await Task.WhenAll(stores.Select(s => Task.Factory.StartNew(() => { start.SignalAndWait(); return s.ServerSecret(); }, TaskCreationOptions.LongRunning)));
                    Assert.All(secrets, s => Assert.Equal(Convert.ToHexString(secrets[0]), Convert.ToHexString(s)));
                    Assert.Equal(32, secrets[0].Length);
                }
                finally
                {
                    foreach (var s in stores) s.Dispose();
                }
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
