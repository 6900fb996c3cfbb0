using System.Globalization;
using System.Text.Json;
using M2M.Core.Switch;
using M2M.Server.Configuration;
using Microsoft.Extensions.Logging;

namespace M2M.Server.Exchange;

/// <summary>
/// Polls rateSource.url every interval for <c>{"base": "USD", "rates": {"XRP": 0.5, ...}}</c> (each code's
/// value in the base, as in the YAML's rates) and installs each good answer. A failure (HTTP error,
/// timeout, a body that is not that document) keeps the last good rates; they are refused by the
/// switch (T00) once older than maxAge. One log line per change of state (answering, failing,
/// stale), never one per poll, and never an exception out of the loop.
/// </summary>
public sealed partial class RateSourcePoller : IAsyncDisposable
{
    /// <summary>A rates document larger than this is refused (a misconfigured URL may serve anything).</summary>
    public const int MaxBodyBytes = 1024 * 1024;

    private enum State { Starting, Answering, Failing, Stale }

    private readonly RateSourceSettings _settings;
    private readonly ExchangeRates _rates;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly HttpClient _http;
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;
    private State _state = State.Starting;
    private string? _lastFailure;
    /// <summary>The URL as logged: no user info and no query (either may hold an API key).</summary>
    private readonly string _shownUrl;

    public RateSourcePoller(RateSourceSettings settings, ExchangeRates rates, TimeProvider time, ILogger log, HttpMessageHandler? handler = null)
    {
        _settings = settings;
        _rates = rates;
        _time = time;
        _log = log;
        _shownUrl = new UriBuilder(settings.Url) { UserName = "", Password = "", Query = "" }.Uri.ToString();
        // The per-request timeout is ours (a CancellationTokenSource), so a stall is told apart from a stop.
        _http = new HttpClient(handler ?? new SocketsHttpHandler { ConnectTimeout = settings.Timeout }) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>The reason of the last failed poll, null after a good one (for /health and tests).</summary>
    public string? LastFailure => Volatile.Read(ref _lastFailure);

    /// <summary>Polls once now, then every interval, until disposed.</summary>
    public void Start() => _loop = RunAsync(_stop.Token);

    private async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            await PollOnceAsync(ct).ConfigureAwait(false);
            try { await Task.Delay(_settings.Interval, _time, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>One fetch: installs the rates and returns true, or keeps the old ones, logs a change of state and returns false.</summary>
    public async Task<bool> PollOnceAsync(CancellationToken ct)
    {
        string? failure;
        RateTable? table = null;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            timeout.CancelAfter(_settings.Timeout);
            try
            {
                using var response = await _http.GetAsync(_settings.Url, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    failure = $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}";
                }
                else
                {
                    var body = await Http.ResponseBodies.ReadLimitedAsync(response, MaxBodyBytes, timeout.Token).ConfigureAwait(false);
                    failure = body is null ? $"the answer is larger than {MaxBodyBytes} bytes" : Parse(body, out table);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return false;
            }
            catch (OperationCanceledException)
            {
                failure = $"no answer within {_settings.Timeout.TotalSeconds:F0} s (rateSource.timeoutSeconds)";
            }
            catch (HttpRequestException e)
            {
                failure = e.HttpRequestError == HttpRequestError.Unknown ? e.Message : $"{e.HttpRequestError}: {e.Message}";
            }
        }
        if (table is not null)
        {
            _rates.Update(table);
            Volatile.Write(ref _lastFailure, null);
            if (_state != State.Answering) LogAnswering(_shownUrl, table.Values.Count, _state == State.Starting ? "" : " again");
            _state = State.Answering;
            return true;
        }
        Volatile.Write(ref _lastFailure, failure);
        var current = _rates.Current;
        var age = current?.AsOf is { } asOf ? _time.GetUtcNow() - asOf : (TimeSpan?)null;
        if (age is null || age > _settings.MaxAge)
        {
            if (_state != State.Stale) LogStale(_shownUrl, failure!, age is null ? "there are no rates yet" : $"the last good rates are {age.Value.TotalSeconds:F0} s old", (long)_settings.MaxAge.TotalSeconds);
            _state = State.Stale;
        }
        else
        {
            if (_state is State.Answering or State.Starting) LogFailing(_shownUrl, failure!, (long)age.Value.TotalSeconds, (long)(_settings.MaxAge - age.Value).TotalSeconds);
            else LogStillFailing(_shownUrl, failure!);
            _state = State.Failing;
        }
        return false;
    }

    /// <summary>Reads the rates document; null when good (with the table), else what is wrong with it, in one line.</summary>
    internal string? Parse(byte[] body, out RateTable? table)
    {
        table = null;
        const string expected = "expected {\"base\": \"USD\", \"rates\": {\"XRP\": 0.5, ...}}";
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(body);
        }
        catch (JsonException e)
        {
            return $"the answer is not JSON ({e.Message.Split('.')[0]}); {expected}";
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("rates", out var rates) || rates.ValueKind != JsonValueKind.Object)
                return $"the answer has no \"rates\" object; {expected}";
            var values = new Dictionary<string, decimal>(StringComparer.Ordinal);
            foreach (var rate in rates.EnumerateObject())
            {
                if (!ConfigLoader.IsAssetCode(rate.Name)) return $"\"{Cut(rate.Name)}\" is not an asset code; {expected}";
                decimal? value = rate.Value.ValueKind switch
                {
                    JsonValueKind.Number => rate.Value.TryGetDecimal(out var d) && d > 0 ? d : null,
                    JsonValueKind.String => ConfigLoader.ParseRate(rate.Value.GetString()),
                    _ => null,
                };
                if (value is null) return $"the rate of {rate.Name} is {Cut(rate.Value.GetRawText())}, not a positive number";
                values[rate.Name] = value.Value;
            }
            if (root.TryGetProperty("base", out var baseCode))
            {
                if (baseCode.ValueKind != JsonValueKind.String || !ConfigLoader.IsAssetCode(baseCode.GetString()!)) return $"\"base\" is {Cut(baseCode.GetRawText())}, not an asset code";
                values.TryAdd(baseCode.GetString()!, 1m);
            }
            if (values.Count == 0) return "the answer's \"rates\" is empty";
            table = new RateTable(values, _time.GetUtcNow(), _shownUrl);
            return null;
        }
    }

    private static string Cut(string s) => s.Length <= 40 ? s : s[..40] + "…";

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try { await _loop.ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        _stop.Dispose();
        _http.Dispose();
    }

    [LoggerMessage(EventId = 3120, Level = LogLevel.Information, Message = "Rate source {Url} answering{Again}: {Count} rates")]
    private partial void LogAnswering(string url, int count, string again);

    [LoggerMessage(EventId = 3121, Level = LogLevel.Warning, Message = "Rate source {Url} failed: {Reason}; keeping the last good rates ({AgeSeconds} s old, stale in {LeftSeconds} s)")]
    private partial void LogFailing(string url, string reason, long ageSeconds, long leftSeconds);

    [LoggerMessage(EventId = 3122, Level = LogLevel.Debug, Message = "Rate source {Url} still failing: {Reason}")]
    private partial void LogStillFailing(string url, string reason);

    [LoggerMessage(EventId = 3123, Level = LogLevel.Error, Message = "Rate source {Url} failed: {Reason}; {Age}, past rateSource.maxAgeSeconds ({MaxAgeSeconds} s): packets that need a conversion get T00 until it answers")]
    private partial void LogStale(string url, string reason, string age, long maxAgeSeconds);
}
