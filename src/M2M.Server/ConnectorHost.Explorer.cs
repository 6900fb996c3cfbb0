using M2M.Server.Explorer;
using M2M.Server.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace M2M.Server;

/// <summary>
/// The Explorer's start and stop: the feed's pump and balance sampler, and its own Kestrel listener on
/// EXPLORER_PORT (BIND_ADDRESS) serving the same UI and API as /explorer on the HTTP port.
/// </summary>
public sealed partial class ConnectorHost
{
    private WebApplication? _explorerApp;

    /// <summary>The Explorer's own port, or 0 when it has none (off, EXPLORER_ENABLED=false, or the default port was taken).</summary>
    public int ExplorerPort { get; private set; }

    private async Task StartExplorerAsync(CancellationToken ct)
    {
        if (Explorer is null) return;
        Explorer.Start(async token => (await AdminEndpoints.BalancesAsync(Peers, Accounting.Ledger, token).ConfigureAwait(false))
            .Select(b => (b.PeerId, b.Balance)).ToList(), _settings.Explorer.BalanceSampleInterval);
        if (_settings.Explorer.Port is not { } port) return;
        var app = BuildApp(port, a =>
        {
            a.UseUtf8RequestBodies();
            a.MapExplorerEndpoints();
        });
        try
        {
            await app.StartAsync(ct).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            string why = $"EXPLORER_PORT {port} on {_settings.BindAddress} cannot be bound ({e.Message})";
            if (_settings.Explorer.PortRequired) throw new IOException($"{why}; choose a free port or EXPLORER_PORT=off", e);
            LogExplorerPortTaken(why);
            return;
        }
        _explorerApp = app;
        ExplorerPort = BoundPort(app);
        LogExplorerListening(_settings.BindAddress, ExplorerPort);
    }

    private async Task StopExplorerAsync()
    {
        if (_explorerApp is not null)
        {
            await _explorerApp.StopAsync(CancellationToken.None).ConfigureAwait(false);
            await _explorerApp.DisposeAsync().ConfigureAwait(false);
            _explorerApp = null;
        }
        if (Explorer is not null) await Explorer.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 1010, Level = LogLevel.Information, Message = "Explorer on http://{BindAddress}:{ExplorerPort}/explorer")]
    private partial void LogExplorerListening(string bindAddress, int explorerPort);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Warning, Message = "{Why}; the Explorer stays under /explorer on the HTTP port (set EXPLORER_PORT to choose its port)")]
    private partial void LogExplorerPortTaken(string why);
}
