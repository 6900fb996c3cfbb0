using Microsoft.Extensions.DependencyInjection;

namespace M2M.Server.Http;

/// <summary>
/// The connector's components as the web hosts' services: endpoints declare what they use as
/// parameters (minimal APIs resolve them from here) instead of reaching into <see cref="ConnectorHost"/>.
/// The components are built and owned by the host (it opens the stores asynchronously in
/// <see cref="ConnectorHost.CreateAsync"/> and disposes them in order on stop), so they are registered
/// as existing instances, which the container does not dispose. Optional components (EVM claims and
/// payer) are registered only when configured; take them as <c>[FromServices] T?</c>.
/// </summary>
public static class ConnectorServices
{
    public static IServiceCollection AddConnectorComponents(this IServiceCollection services, ConnectorHost host)
    {
        services.AddSingleton(host);
        services.AddSingleton(host.Settings);
        services.AddSingleton(host.Accounting);
        services.AddSingleton(host.Metrics);
        services.AddSingleton(host.LimitMetrics);
        services.AddSingleton(host.Tracing);
        services.AddSingleton(host.Peers);
        services.AddSingleton(host.Settlement);
        services.AddSingleton(host.Switch);
        services.AddSingleton(host.AuthLimiter);
        if (host.Explorer is not null) services.AddSingleton(host.Explorer);
        if (host.Wallets is not null) services.AddSingleton(host.Wallets);
        services.AddSingleton(host.HostedAccounts);
        services.AddSingleton(host.Routing);
        if (host.EvmClaims is not null) services.AddSingleton(host.EvmClaims);
        if (host.EvmPayer is not null) services.AddSingleton(host.EvmPayer);
        return services;
    }
}
