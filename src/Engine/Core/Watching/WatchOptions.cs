namespace DeploymentRollback.Engine;

/// <summary>What a watcher measures and when it acts. Defaults follow the tools ops people know (Argo Rollouts, CloudWatch).</summary>
public sealed record WatchOptions
{
    public VerificationOptions Checks { get; init; } = new();
    public IReadOnlyList<PrometheusQuery> Queries { get; init; } = Array.Empty<PrometheusQuery>();
    public Uri? PrometheusUri { get; init; }

    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Warm-up after a deployment: nothing is measured before it has passed.</summary>
    public TimeSpan InitialDelay { get; init; } = TimeSpan.Zero;
    /// <summary>Watch this long, then return (a bake window); null watches until stopped.</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>This many failed rounds in a row trigger a rollback.</summary>
    public int FailureLimit { get; init; } = 3;
    /// <summary>M of N: FailuresInWindow failed rounds among the last Window rounds trigger (0: not used).</summary>
    public int Window { get; init; }
    public int FailuresInWindow { get; init; }
    /// <summary>This many rounds in a row where a probe itself failed (Prometheus down, DNS) pause the watcher for a person; never a rollback.</summary>
    public int ConsecutiveErrorLimit { get; init; } = 4;
    public NoDataPolicy NoData { get; init; } = NoDataPolicy.Ignore;

    /// <summary>After an automatic rollback of the target, no other one for this long.</summary>
    public TimeSpan Cooldown { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>Measure and record, never act.</summary>
    public bool DryRun { get; init; }
    /// <summary>Journal the measurements and decisions (not under -WhatIf, which changes nothing at all).</summary>
    public bool Record { get; init; } = true;
    /// <summary>Evaluate one window (enough rounds to decide) and return: for scheduled runbooks.</summary>
    public bool Once { get; init; }
    /// <summary>How many measurements per target the journal keeps.</summary>
    public int KeepMeasurements { get; init; } = 500;

    /// <summary>How many rounds -Once takes: enough for either trigger to fire.</summary>
    public int RoundsForOneWindow => Math.Max(FailureLimit, Window);

    /// <summary>Checks what the parameters cannot: something to measure, and an M-of-N window that can trigger.</summary>
    public void Validate()
    {
        if (!Checks.Any && Queries.Count == 0)
        {
            throw new RollbackException(ErrorIds.WatchNothingToMeasure, RollbackErrorKind.InvalidArgument,
                "There is nothing to watch. Give -HealthCheckUri, -SmokeTest or -PrometheusQuery (with -PrometheusUri), or a plan whose service or components have health checks.");
        }

        if (Queries.Count > 0 && PrometheusUri is null)
        {
            throw new RollbackException(ErrorIds.WatchPrometheusUriInvalid, RollbackErrorKind.InvalidArgument,
                "-PrometheusQuery needs -PrometheusUri, the Prometheus server's address (e.g. http://127.0.0.1:9090).");
        }

        if ((Window > 0) != (FailuresInWindow > 0) || FailuresInWindow > Window)
        {
            throw new RollbackException(ErrorIds.WatchWindowInvalid, RollbackErrorKind.InvalidArgument,
                $"-Window {Window} and -FailuresInWindow {FailuresInWindow} do not make an M-of-N rule. Give both, with -FailuresInWindow at most -Window (e.g. -Window 5 -FailuresInWindow 3: three failed rounds among the last five trigger).");
        }
    }

    public static Uri ParsePrometheusUri(string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new RollbackException(ErrorIds.WatchPrometheusUriInvalid, RollbackErrorKind.InvalidArgument,
                $"'{SecretRedactor.Redact(text)}' is not an http:// or https:// address. Give the Prometheus server's address, e.g. http://127.0.0.1:9090.");
        }

        return uri;
    }
}
