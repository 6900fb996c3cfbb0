using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text.Json;
using M2M.Core.Ilp;
using M2M.Core.Stream;
using M2M.Core.Switch;
using Microsoft.Extensions.Logging;

namespace M2M.Server.Accounts;

/// <summary>
/// The send API: a payment from a hosted account to a payment pointer or SPSP URL, sent by the
/// STREAM sender through the switch (so the ledger step debits the account durably, T04 past its
/// balance). Idempotent by the client's id; progress is written to accounts.db before and after every
/// packet. After a crash, a payment with no packet in flight resumes with what remains; one with a
/// packet of unknown outcome is ended as failed (its amount named), so nothing is ever paid twice.
/// </summary>
public sealed partial class PaymentService : IAsyncDisposable
{
    /// <summary>Largest SPSP response read (an SPSP answer is a few hundred bytes).</summary>
    public const int MaxSpspResponseBytes = 64 * 1024;

    private readonly HostedAccounts _accounts;
    private readonly Func<IlpPrepare, PeerDescriptor, CancellationToken, ValueTask<IlpReply>> _send;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly HttpClient _http;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, Task> _running = new(StringComparer.Ordinal);
    private int _disposed;

    public PaymentService(HostedAccounts accounts, Func<IlpPrepare, PeerDescriptor, CancellationToken, ValueTask<IlpReply>> send, TimeProvider time, ILogger log,
        HttpMessageHandler? spspHandler = null)
    {
        _accounts = accounts;
        _send = send;
        _time = time;
        _log = log;
        _http = spspHandler is null ? new HttpClient() : new HttpClient(spspHandler);
        _http.Timeout = TimeSpan.FromSeconds(10);
    }

    /// <summary>Starts a payment, or returns the existing one with this client id (created = false).</summary>
    public async Task<(PaymentRecord Payment, bool Created)> StartAsync(string accountId, string clientId, string receiver, ulong amount, CancellationToken ct)
    {
        var record = _accounts.Store.Get(accountId) ?? throw new HostedAccountException($"no account '{accountId}'", 404);
        var existing = _accounts.Store.PaymentsFor(accountId, clientId);
        if (existing is not null) return (existing, false);
        var view = await _accounts.ViewAsync(record, ct).ConfigureAwait(false);
        if (Int128.Parse(view.Balance, System.Globalization.CultureInfo.InvariantCulture) < amount)
            throw new HostedAccountException($"account '{accountId}' holds {view.Balance}, less than the amount {amount}", 409);
        var (payment, created) = _accounts.Store.CreatePayment(accountId, clientId, receiver, amount, _time.GetUtcNow());
        if (created) Launch(payment);
        return (payment, created);
    }

    /// <summary>At start: payments left "sending" by a stop or crash resume, unless a packet's outcome is unknown.</summary>
    public void ResumeInterrupted()
    {
        foreach (var p in _accounts.Store.PaymentsIn(PaymentStates.Sending))
        {
            if (p.InFlight > 0)
            {
                string error = $"interrupted by a restart with a packet of {p.InFlight} in flight whose outcome is unknown; not resumed, so nothing is paid twice (the ledger shows whether it was debited)";
                _accounts.Store.UpdatePayment(p.PaymentId, p.Sent, p.Delivered, p.InFlight, PaymentStates.Failed, error, _time.GetUtcNow());
                LogInterrupted(p.PaymentId, p.AccountId, p.InFlight);
                continue;
            }
            Launch(p);
        }
    }

    private void Launch(PaymentRecord payment) =>
        _running[payment.PaymentId] = Task.Run(() => RunAsync(payment, _stop.Token), CancellationToken.None).ContinueWith(
            _ => _running.TryRemove(payment.PaymentId, out Task? _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private async Task RunAsync(PaymentRecord p, CancellationToken ct)
    {
        ulong sent = p.Sent, delivered = p.Delivered;
        try
        {
            if (!_accounts.TryGet(p.AccountId, out var account) || account is null) throw new StreamSendException($"account '{p.AccountId}' was removed", default);
            var (destination, secret) = await ResolveAsync(p.Receiver, ct).ConfigureAwait(false);
            var source = HostedAccounts.SourceOf(account);
            var sender = new StreamSender((prepare, token) => _send(prepare, source, token), _time);
            var result = await sender.SendAsync(destination, secret, _accounts.AddressOf(p.AccountId), (account.AssetCode, account.AssetScale), p.SourceAmount - p.Sent,
                chunk =>
                {
                    _accounts.Store.UpdatePayment(p.PaymentId, sent, delivered, chunk, PaymentStates.Sending, null, _time.GetUtcNow());
                    return ValueTask.CompletedTask;
                },
                progress =>
                {
                    _accounts.Store.UpdatePayment(p.PaymentId, p.Sent + progress.Sent, p.Delivered + progress.Delivered, 0, PaymentStates.Sending, null, _time.GetUtcNow());
                    (sent, delivered) = (p.Sent + progress.Sent, p.Delivered + progress.Delivered);
                    return ValueTask.CompletedTask;
                }, ct).ConfigureAwait(false);
            _accounts.Store.UpdatePayment(p.PaymentId, p.Sent + result.Sent, p.Delivered + result.Delivered, 0, PaymentStates.Completed, null, _time.GetUtcNow());
            LogCompleted(p.PaymentId, p.AccountId, p.Sent + result.Sent, p.Delivered + result.Delivered);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Stopping: the payment stays "sending" and resumes at the next start (a packet in flight makes it fail instead).
        }
        catch (Exception e) when (e is StreamSendException or SpspException or HttpRequestException or TaskCanceledException)
        {
            var progress = e is StreamSendException s ? s.Progress : default;
            (sent, delivered) = (p.Sent + progress.Sent, p.Delivered + progress.Delivered);
            _accounts.Store.UpdatePayment(p.PaymentId, sent, delivered, 0, PaymentStates.Failed, e.Message, _time.GetUtcNow());
            LogFailed(p.PaymentId, p.AccountId, sent, e.Message);
        }
    }

    /// <summary>SPSP (RFC 9) query: <c>$host/path</c> → <c>https://host/path</c> (bare host → /.well-known/pay), or an http(s) URL as given.</summary>
    public async Task<(string Destination, byte[] SharedSecret)> ResolveAsync(string receiver, CancellationToken ct)
    {
        var url = SpspUrl(receiver);
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(AccountEndpoints.SpspMediaType));
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode) throw new SpspException($"SPSP query {url} answered {(int)response.StatusCode}");
        var body = await Http.ResponseBodies.ReadLimitedAsync(response, MaxSpspResponseBytes, ct).ConfigureAwait(false)
            ?? throw new SpspException($"SPSP answer from {url} is larger than {MaxSpspResponseBytes} bytes; an SPSP answer is a small JSON object");
        try
        {
            using var doc = JsonDocument.Parse(body);
            string destination = doc.RootElement.GetProperty("destination_account").GetString() ?? "";
            byte[] secret = Convert.FromBase64String(doc.RootElement.GetProperty("shared_secret").GetString() ?? "");
            if (!IlpAddress.IsValid(destination) || secret.Length != 32) throw new SpspException($"SPSP answer from {url} has an invalid destination_account or shared_secret");
            return (destination, secret);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or FormatException or InvalidOperationException)
        {
            throw new SpspException($"SPSP answer from {url} is not SPSP JSON: {e.Message}");
        }
    }

    public static Uri SpspUrl(string receiver)
    {
        string text = receiver.StartsWith('$') ? "https://" + receiver[1..] : receiver;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http"))
            throw new SpspException($"receiver '{receiver}' is not a payment pointer ($host/path) or an http(s) SPSP URL");
        return uri.AbsolutePath == "/" ? new UriBuilder(uri) { Path = "/.well-known/pay" }.Uri : uri;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_running.Values).WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // a sender stuck in a packet; its payment stays "sending" with the packet in flight (ended as failed at the next start)
        }
        _http.Dispose();
        _stop.Dispose();
    }

    [LoggerMessage(EventId = 7201, Level = LogLevel.Information, Message = "Payment {PaymentId} from account {AccountId} completed: sent {Sent}, delivered {Delivered}")]
    private partial void LogCompleted(string paymentId, string accountId, ulong sent, ulong delivered);

    [LoggerMessage(EventId = 7202, Level = LogLevel.Warning, Message = "Payment {PaymentId} from account {AccountId} failed after sending {Sent}: {Reason}")]
    private partial void LogFailed(string paymentId, string accountId, ulong sent, string reason);

    [LoggerMessage(EventId = 7203, Level = LogLevel.Warning, Message = "Payment {PaymentId} from account {AccountId} was interrupted with {InFlight} in flight; ended as failed, not resumed")]
    private partial void LogInterrupted(string paymentId, string accountId, ulong inFlight);
}

/// <summary>The receiver's SPSP endpoint could not be used; the message names the URL and the problem.</summary>
public sealed class SpspException(string message) : Exception(message);
