using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine;

/// <summary>What "healthy" means for one HTTP endpoint.</summary>
public sealed record HealthCheckOptions
{
    public required Uri Uri { get; init; }
    /// <summary>Accepted status codes; empty means any 2xx.</summary>
    public IReadOnlyList<int> ExpectedStatus { get; init; } = Array.Empty<int>();
    /// <summary>A regular expression the body must match, if given.</summary>
    public string? BodyPattern { get; init; }
    public int Retries { get; init; } = 3;
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Opt-out of TLS certificate checks; off unless the user asks for it.</summary>
    public bool SkipCertificateCheck { get; init; }
    /// <summary>
    /// The check confirms a failure before a rollback (not a wait for a restarted service): a failure already seen at
    /// least one interval ago in this process, with no pass since, confirms it without another wait.
    /// </summary>
    public bool ConfirmsFailure { get; init; }

    /// <summary>Checks a body pattern before anything runs, so a typo fails at once and not after the rollback.</summary>
    public static string? ValidateBodyPattern(string? pattern)
    {
        if (pattern is null)
        {
            return null;
        }

        try
        {
            _ = new Regex(pattern, RegexOptions.None, TimeSpan.FromSeconds(1));
            return pattern;
        }
        catch (ArgumentException e)
        {
            throw new RollbackException(ErrorIds.HealthCheckBodyInvalid, RollbackErrorKind.InvalidArgument,
                $"'{pattern}' is not a valid regular expression ({e.Message}). Escape the characters that have a meaning in regular expressions (for example \\. or \\{{), or use a plain word such as ok.");
        }
    }

    public static Uri ParseUri(string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new RollbackException(ErrorIds.HealthCheckUriInvalid, RollbackErrorKind.InvalidArgument,
                $"'{SecretRedactor.Redact(text)}' is not an http:// or https:// address. Pass the full URL of the health endpoint, such as http://127.0.0.1:8080/health.");
        }

        return uri;
    }
}

/// <summary>Runs HTTP health checks (with retries) and smoke tests, and returns one health report.</summary>
public static class HealthVerifier
{
    private const string Activity = "Verifying health";
    private static readonly Lazy<HttpClient> CheckedClient = new(() => CreateClient(skipCertificateCheck: false));
    private static readonly Lazy<HttpClient> UncheckedClient = new(() => CreateClient(skipCertificateCheck: true));

    // How long a failure seen earlier still confirms a new one: longer, and it may have passed unseen in between.
    private static readonly TimeSpan FreshFailure = TimeSpan.FromMinutes(5);

    // Per check (its address, expected status and body pattern; kept in memory only), when it started failing as this
    // process saw it: the first failure after its last pass. An assessment's confirmed failure so confirms the
    // rollback's preflight that follows it in the same session or runbook, instead of a second retry interval.
    // Times are the timer clock's (Environment.TickCount64): a retry delay ends by that clock, while the wall clock can
    // read a hair less than the interval after it (or jump), which would cost a confirmed failure its retry.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> FailingSince = new(StringComparer.Ordinal);

    public static async Task<HealthReport> VerifyAsync(IReadOnlyList<HealthCheckOptions> checks, IReadOnlyList<ScriptAction> smokeTests, IRollbackObserver observer, CancellationToken cancellation)
    {
        var report = new HealthReport { CheckedAt = DateTimeOffset.UtcNow };
        foreach (var check in checks)
        {
            report.Checks.Add(await CheckAsync(check, observer, cancellation).ConfigureAwait(false));
        }

        foreach (var smokeTest in smokeTests)
        {
            report.SmokeTests.Add(await RunSmokeTestAsync(smokeTest, observer, cancellation).ConfigureAwait(false));
        }

        observer.Progress(new ProgressUpdate(Activity, "Done", Completed: true));
        return report;
    }

    public static async Task<HealthCheckResult> CheckAsync(HealthCheckOptions check, IRollbackObserver observer, CancellationToken cancellation)
    {
        var client = check.SkipCertificateCheck ? UncheckedClient.Value : CheckedClient.Value;
        var watch = Stopwatch.StartNew();
        // Credentials in the URL are sent as Basic authentication (HttpClient drops them) and never shown.
        var shown = UrlCredentials.Describe(check.Uri);
        var (address, authorization) = UrlCredentials.Split(check.Uri);
        var result = new HealthCheckResult { Uri = shown };
        var pattern = check.BodyPattern is null ? null : new Regex(check.BodyPattern, RegexOptions.None, TimeSpan.FromSeconds(1));
        var tries = Math.Max(1, check.Retries + 1);
        var key = $"{check.Uri.AbsoluteUri} {string.Join(',', check.ExpectedStatus)} {check.BodyPattern}";
        for (var attempt = 1; attempt <= tries; attempt++)
        {
            result.Attempts = attempt;
            observer.Progress(new ProgressUpdate(Activity, $"GET {shown} (try {attempt} of {tries})", 100 * (attempt - 1) / tries));
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            timeout.CancelAfter(check.Timeout);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, address) { Headers = { Authorization = authorization } };
                using var response = await client.SendAsync(request, timeout.Token).ConfigureAwait(false);
                var body = await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
                result.StatusCode = (int)response.StatusCode;
                result.BodyExcerpt = SecretRedactor.Redact(body.Length > 500 ? body[..500] : body);
                var statusOk = check.ExpectedStatus.Count == 0 ? response.IsSuccessStatusCode : check.ExpectedStatus.Contains(result.StatusCode.Value);
                var bodyOk = pattern is null || pattern.IsMatch(body);
                result.Passed = statusOk && bodyOk;
                result.NameNotResolved = false;
                result.Message = result.Passed
                    ? $"{result.StatusCode} {response.ReasonPhrase}"
                    : !statusOk
                        ? $"status {result.StatusCode} {response.ReasonPhrase}, expected {(check.ExpectedStatus.Count == 0 ? "2xx" : string.Join(" or ", check.ExpectedStatus))}"
                        : $"status {result.StatusCode}, but the body does not match '{check.BodyPattern}'";
            }
            catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
            {
                result.Passed = false;
                result.StatusCode = null;
                result.Message = $"no answer within {check.Timeout.TotalSeconds:0.#} s";
            }
            catch (HttpRequestException e)
            {
                result.Passed = false;
                result.StatusCode = null;
                result.NameNotResolved = e.HttpRequestError == HttpRequestError.NameResolutionError;
                result.Message = SecretRedactor.Redact(e.HttpRequestError == HttpRequestError.ConnectionError ? $"connection failed: {e.Message}" : e.Message);
            }

            observer.Verbose($"Health check {shown} try {attempt}: {(result.Passed ? "passed" : "failed")} ({result.Message})");
            var now = Environment.TickCount64;
            if (result.Passed)
            {
                FailingSince.TryRemove(key, out _);
                break;
            }

            var since = FailingSince.AddOrUpdate(key, now, (_, earlier) => now - earlier > (long)FreshFailure.TotalMilliseconds ? now : earlier);
            var failingFor = TimeSpan.FromMilliseconds(now - since);
            if (attempt == tries)
            {
                break;
            }

            var wait = check.Interval;
            if (check.ConfirmsFailure)
            {
                // Failing since an earlier check at least one interval ago: confirmed. Since less long: the rest of the interval.
                wait = check.Interval - failingFor;
                if (wait <= TimeSpan.Zero)
                {
                    result.Message += $" (also failing {failingFor.TotalSeconds:0.#} s before)";
                    observer.Verbose($"Health check {shown}: confirmed, failing since {DateTimeOffset.UtcNow - failingFor:HH:mm:ss} UTC with no pass seen since");
                    break;
                }
            }

            await Task.Delay(wait, cancellation).ConfigureAwait(false);
        }

        result.Duration = watch.Elapsed;
        return result;
    }

    public static async Task<SmokeTestResult> RunSmokeTestAsync(ScriptAction smokeTest, IRollbackObserver observer, CancellationToken cancellation)
    {
        observer.Progress(new ProgressUpdate(Activity, $"Smoke test {smokeTest.Name}"));
        var watch = Stopwatch.StartNew();
        ScriptOutcome outcome;
        try
        {
            outcome = await smokeTest.Run(cancellation).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            outcome = new ScriptOutcome(false, e.Message, null);
        }

        observer.Verbose($"Smoke test {smokeTest.Name}: {(outcome.Succeeded ? "passed" : "failed")}");
        return new SmokeTestResult
        {
            Name = smokeTest.Name,
            Passed = outcome.Succeeded,
            ExitCode = outcome.ExitCode,
            Duration = watch.Elapsed,
            Output = SecretRedactor.Redact(outcome.Output.Length > 20_000 ? outcome.Output[^20_000..] : outcome.Output),
        };
    }

    /// <summary>The shared client, with or without certificate checks (one connection pool per process).</summary>
    internal static HttpClient Client(bool skipCertificateCheck) => skipCertificateCheck ? UncheckedClient.Value : CheckedClient.Value;

    private static HttpClient CreateClient(bool skipCertificateCheck)
    {
        var handler = new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.All, PooledConnectionLifetime = TimeSpan.FromMinutes(1) };
        if (skipCertificateCheck)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        }

        return new HttpClient(handler) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
    }
}
