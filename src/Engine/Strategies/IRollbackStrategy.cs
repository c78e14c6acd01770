namespace DeploymentRollback.Engine;

/// <summary>Everything a rollback, assessment or checkpoint can be asked; each strategy reads the fields it needs.</summary>
public sealed record RollbackRequest
{
    public string Strategy { get; init; } = StrategyNames.Git;
    public string? Path { get; init; }
    /// <summary>The version to go back to; null means the last verified-good one.</summary>
    public string? Target { get; init; }
    public GitRollbackMode GitMode { get; init; } = GitRollbackMode.Checkout;
    public IReadOnlyList<string> Commits { get; init; } = Array.Empty<string>();
    public bool Push { get; init; }
    public string? UserName { get; init; }
    /// <summary>Used for the push only; never logged or written.</summary>
    public string? Password { get; init; }
    public bool Force { get; init; }
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan EscalationWindow { get; init; } = TimeSpan.FromHours(1);
    public int EscalationThreshold { get; init; } = 3;
    public IReadOnlyList<HealthCheckOptions> HealthChecks { get; init; } = Array.Empty<HealthCheckOptions>();
    public IReadOnlyList<ScriptAction> SmokeTests { get; init; } = Array.Empty<ScriptAction>();
    public ScriptAction? RestartScript { get; init; }
    public string? Reason { get; init; }
    public FailureType? FailureType { get; init; }
    public Uri? WebhookUri { get; init; }
    public string? CheckpointName { get; init; }
    public RollbackCheckpoint? ExistingCheckpoint { get; init; }
}

/// <summary>A target's stable name in the journal (e.g. git:/srv/app) and where it lives (e.g. /srv/app).</summary>
public sealed record TargetIdentity(string Key, string Location);

/// <summary>What a strategy knows of a target's versions; the engine adds failure type, signals and recommendation.</summary>
public sealed class StrategyAssessment
{
    public string? CurrentVersion { get; init; }
    public string? CurrentCommit { get; init; }
    public string? LastGoodVersion { get; init; }
    public string? LastGoodSource { get; init; }
    public IReadOnlyList<string> Changes { get; init; } = Array.Empty<string>();
    public IReadOnlyList<string> AffectedComponents { get; init; } = Array.Empty<string>();
    public IReadOnlyList<string> Errors { get; init; } = Array.Empty<string>();
    public bool HasUncommittedChanges { get; init; }
    public string Rationale { get; init; } = "";
}

/// <summary>The small interface every strategy implements: identify, assess, checkpoint, plan, execute, report its version.</summary>
public interface IRollbackStrategy
{
    string Name { get; }

    /// <summary>Validates the request enough to name the target (e.g. git:/srv/app); throws a RollbackException when it cannot.</summary>
    TargetIdentity ResolveTarget(RollbackRequest request);

    Task<StrategyAssessment> AssessAsync(RollbackRequest request, EngineContext context);

    Task<(string? Version, string? Commit)> CaptureCheckpointAsync(RollbackRequest request, CheckpointWriter writer, EngineContext context);

    /// <summary>Decides the steps without changing anything; every precondition is checked here.</summary>
    Task<RollbackPlan> PlanAsync(RollbackRequest request, EngineContext context);

    /// <summary>Runs one mutating step of the plan; consent has already been given for every step.</summary>
    Task<StepResult> ExecuteStepAsync(PlanStep step, RollbackPlan plan, RollbackRequest request, RollbackCheckpoint checkpoint, EngineContext context);

    Task<(string? Version, string? Commit)> GetCurrentVersionAsync(RollbackRequest request, EngineContext context);
}

public static class StrategyRegistry
{
    public static IRollbackStrategy Get(string name) => name switch
    {
        _ when name.Equals(StrategyNames.Git, StringComparison.OrdinalIgnoreCase) => new Git.GitStrategy(),
        _ when StrategyNames.All.Contains(name, StringComparer.OrdinalIgnoreCase) => throw new RollbackException(ErrorIds.StrategyNotImplemented, RollbackErrorKind.NotImplemented,
            $"The {name} strategy is not available in this version of DeploymentRollback. Available now: {StrategyNames.Git}."),
        _ => throw new RollbackException(ErrorIds.StrategyNotImplemented, RollbackErrorKind.InvalidArgument,
            $"'{name}' is not a rollback strategy. Use one of: {string.Join(", ", StrategyNames.All)}."),
    };
}
