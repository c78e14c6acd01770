using System.Globalization;

namespace DeploymentRollback.Engine;

/// <summary>One round of measurements: each health check once, each smoke test, each Prometheus query.</summary>
public static class WatchProbes
{
    public static async Task<List<WatchMeasurement>> MeasureAsync(WatchOptions options, int round, IRollbackObserver observer, CancellationToken cancellation)
    {
        var measurements = new List<WatchMeasurement>();
        // A watcher measures once per round: its own counting replaces the health check's retries.
        foreach (var check in options.Checks.HealthChecks)
        {
            var result = await HealthVerifier.CheckAsync(check with { Retries = 0 }, observer, cancellation).ConfigureAwait(false);
            measurements.Add(new WatchMeasurement
            {
                Round = round, At = DateTimeOffset.UtcNow, Probe = "http", Name = result.Uri,
                Value = result.StatusCode, Condition = check.ExpectedStatus.Count == 0 ? "2xx" : string.Join(" or ", check.ExpectedStatus),
                Outcome = result.Passed ? MeasurementOutcome.Passed : result.NameNotResolved ? MeasurementOutcome.Error : MeasurementOutcome.Failed,
                Message = result.Message,
            });
        }

        foreach (var smoke in options.Checks.SmokeTests)
        {
            var result = await HealthVerifier.RunSmokeTestAsync(smoke, observer, cancellation).ConfigureAwait(false);
            measurements.Add(new WatchMeasurement
            {
                Round = round, At = DateTimeOffset.UtcNow, Probe = "smoke", Name = result.Name, Value = result.ExitCode, Condition = "passes",
                Outcome = result.Passed ? MeasurementOutcome.Passed : MeasurementOutcome.Failed,
                Message = result.Passed ? "passed" : $"failed (exit code {result.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "none"})",
            });
        }

        foreach (var query in options.Queries)
        {
            measurements.Add(await QueryAsync(options, query, round, cancellation).ConfigureAwait(false));
        }

        return measurements;
    }

    /// <summary>
    /// A query whose every series meets the condition passes; the value shown is the worst series'. Prometheus being
    /// down, refusing the query or answering with something else is the probe's error, never the application's failure.
    /// </summary>
    public static async Task<WatchMeasurement> QueryAsync(WatchOptions options, PrometheusQuery query, int round, CancellationToken cancellation)
    {
        var measurement = new WatchMeasurement { Round = round, At = DateTimeOffset.UtcNow, Probe = "prometheus", Name = query.Label, Condition = query.Condition };
        var (address, authorization) = UrlCredentials.Split(options.PrometheusUri!);
        var url = new Uri(address, address.AbsolutePath.TrimEnd('/') + "/api/v1/query?query=" + Uri.EscapeDataString(query.Expression));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(TimeSpan.FromSeconds(Math.Clamp(options.Interval.TotalSeconds, 2, 30)));
        string body;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url) { Headers = { Authorization = authorization } };
            using var response = await HealthVerifier.Client(false).SendAsync(request, timeout.Token).ConfigureAwait(false);
            body = await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            return Errored(measurement, $"Prometheus did not answer within {Math.Clamp(options.Interval.TotalSeconds, 2, 30):0.#} s");
        }
        catch (HttpRequestException e)
        {
            return Errored(measurement, SecretRedactor.Redact($"Prometheus at {UrlCredentials.Describe(options.PrometheusUri!)} cannot be reached: {e.Message}"));
        }

        var (values, error) = PrometheusQuery.ReadAnswer(body);
        if (values is null)
        {
            return Errored(measurement, SecretRedactor.Redact(error!));
        }

        if (values.Count == 0)
        {
            measurement.Outcome = MeasurementOutcome.NoData;
            measurement.Message = "the query returned no value (no series, or only NaN: is there traffic?)";
            return measurement;
        }

        var failing = values.Where(v => !query.Holds(v.Value)).ToList();
        var shown = failing.Count > 0 ? failing[0] : values[0];
        measurement.Value = shown.Value;
        measurement.Outcome = failing.Count == 0 ? MeasurementOutcome.Passed : MeasurementOutcome.Failed;
        var value = shown.Value.ToString("0.####", CultureInfo.InvariantCulture);
        measurement.Message = failing.Count == 0
            ? $"{value} {query.Condition}"
            : $"{value}{(shown.Series.Length > 2 ? " " + shown.Series : "")} is not {query.Condition}{(failing.Count > 1 ? $" ({failing.Count} of {values.Count} series)" : "")}";
        return measurement;
    }

    private static WatchMeasurement Errored(WatchMeasurement measurement, string message)
    {
        measurement.Outcome = MeasurementOutcome.Error;
        measurement.Message = message;
        return measurement;
    }
}
