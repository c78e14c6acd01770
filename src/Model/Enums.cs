namespace DeploymentRollback;

/// <summary>The spec's four kinds of deployment failure, plus Unknown.</summary>
public enum FailureType
{
    Unknown,
    DeploymentNeverCompleted,
    HealthCheckFailed,
    SmokeTestFailed,
    UserReportedIssues,
}

public enum RollbackOutcome
{
    Succeeded,
    Failed,
    Skipped,
    Escalated,
    /// <summary>The attempt's process ended before it finished (killed, power loss); found and marked by the next run.</summary>
    Interrupted,
}

public enum StepStatus
{
    Succeeded,
    Failed,
    Skipped,
    /// <summary>Stopped by the user (Ctrl+C) before it finished.</summary>
    Cancelled,
}

public enum VerificationOutcome
{
    NotRun,
    Passed,
    Failed,
}

public enum GitRollbackMode
{
    Checkout,
    Revert,
}

/// <summary>The spec's signals, in and out.</summary>
public static class SignalNames
{
    public const string DeploymentFailed = "DEPLOYMENT_FAILED";
    public const string HealthCheckFailed = "HEALTH_CHECK_FAILED";
    public const string RollbackStarted = "ROLLBACK_STARTED";
    public const string RollbackComplete = "ROLLBACK_COMPLETE";
    public const string RollbackFailed = "ROLLBACK_FAILED";
    public const string ManualInterventionRequired = "MANUAL_INTERVENTION_REQUIRED";

    public static readonly IReadOnlyList<string> All = new[]
    {
        DeploymentFailed, HealthCheckFailed, RollbackStarted, RollbackComplete, RollbackFailed, ManualInterventionRequired,
    };

    public static readonly IReadOnlyList<string> Inputs = new[] { DeploymentFailed, HealthCheckFailed };
}
