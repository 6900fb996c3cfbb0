using M2M.TestKit;

namespace M2M.Settlement.Tests;

[CollectionDefinition(Name)]
public sealed class EvmNodeCollection : ICollectionFixture<EvmNodeFixture>
{
    public const string Name = "EVM node";
}
