namespace DeploymentRollback;

/// <summary>Health checks and smoke tests run together, with one verdict.</summary>
public sealed class HealthReport
{
    public string? AttemptId { get; set; }
    public string Strategy { get; set; } = "";
    public string TargetKey { get; set; } = "";
    public string Path { get; set; } = "";
    public string StateDirectory { get; set; } = "";
    public string? Version { get; set; }
    public DateTimeOffset CheckedAt { get; set; }
    public List<HealthCheckResult> Checks { get; set; } = new();
    public List<SmokeTestResult> SmokeTests { get; set; } = new();
    /// <summary>The version recorded as verified-good because these checks passed, if any.</summary>
    public string? RecordedVerifiedVersion { get; set; }
    public bool HealthChecksPassed => Checks.All(c => c.Passed);
    public bool SmokeTestsPassed => SmokeTests.All(s => s.Passed);
    public bool Healthy => (Checks.Count + SmokeTests.Count) > 0 && HealthChecksPassed && SmokeTestsPassed;
}

public sealed class HealthCheckResult
{
    public string Uri { get; set; } = "";
    public bool Passed { get; set; }
    public int? StatusCode { get; set; }
    public int Attempts { get; set; }
    public TimeSpan Duration { get; set; }
    public string Message { get; set; } = "";
    public string? BodyExcerpt { get; set; }
    /// <summary>The endpoint's name did not resolve (DNS): the way to the service failed, not the service.</summary>
    public bool NameNotResolved { get; set; }
}

public sealed class SmokeTestResult
{
    public string Name { get; set; } = "";
    public bool Passed { get; set; }
    public int? ExitCode { get; set; }
    public TimeSpan Duration { get; set; }
    public string Output { get; set; } = "";
}
