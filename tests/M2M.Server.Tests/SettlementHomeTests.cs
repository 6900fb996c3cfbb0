using M2M.Settlement;
using M2M.Settlement.Coordination;

namespace M2M.Server.Tests;

/// <summary>
/// Settlement has one home (issue 15): the path from a threshold to a claim (coordinator, methods, EVM payer,
/// claim receiver, stores) is in M2M.Settlement, which knows neither BTP nor the host; the host only wires it
/// and carries bytes for it (<see cref="IPeerMessenger"/>).
/// </summary>
public sealed class SettlementHomeTests
{
    [Fact]
    [Trait("Tier", "unit")]
    public void The_host_holds_no_settlement_method_nor_channel_code_and_settlement_does_not_know_BTP()
    {
        var hostTypes = typeof(ConnectorHost).Assembly.GetTypes();
        Assert.DoesNotContain(hostTypes, t => typeof(ISettlementMethod).IsAssignableFrom(t));
        // Where the EVM payer, receiver and stores used to live (config sections and the /health probe are host concerns).
        Assert.DoesNotContain(hostTypes, t => t.Namespace is "M2M.Server.Accounting" or "M2M.Server.Peers"
            && (t.Name.StartsWith("Evm", StringComparison.Ordinal) || t.Name.StartsWith("Xrp", StringComparison.Ordinal)));
        Assert.Single(hostTypes, t => typeof(IPeerMessenger).IsAssignableFrom(t) && !t.IsInterface);

        var references = typeof(SettlementCoordinator).Assembly.GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.DoesNotContain("M2M.Btp", references);
        Assert.DoesNotContain("M2M.Server", references);
        Assert.Contains("M2M.Core", references);
        Assert.Equal(typeof(SettlementCoordinator).Assembly, typeof(M2M.Settlement.Evm.EvmSettlementMethod).Assembly);
        Assert.Equal(typeof(SettlementCoordinator).Assembly, typeof(M2M.Settlement.Evm.EvmClaimReceiver).Assembly);
        Assert.Equal(typeof(SettlementCoordinator).Assembly, typeof(M2M.Settlement.Evm.EvmChannelStore).Assembly);
    }
}
