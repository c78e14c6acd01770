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

    /// <summary>Container: the container's name or id.</summary>
    public string? Name { get; init; }
    /// <summary>Container, DockerCompose: the engine address; DOCKER_HOST or the platform default when null.</summary>
    public string? DockerHost { get; init; }
    /// <summary>Container: keep the failed container (renamed) after a verified rollback.</summary>
    public bool KeepFailed { get; init; }
    /// <summary>How long to wait for the rolled-back workload to be running and healthy.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>DockerCompose: the project's compose file (default: the Compose CLI's own lookup in Path).</summary>
    public string? File { get; init; }
    /// <summary>DockerCompose: the spec's docker-compose.previous.yml.</summary>
    public string? PreviousFile { get; init; }
    public string? ProjectName { get; init; }
    /// <summary>DockerCompose: only these services (partial rollback).</summary>
    public IReadOnlyList<string> Services { get; init; } = Array.Empty<string>();

    /// <summary>FeatureFlag: Http, Unleash, LaunchDarkly, Flagd or FeatureManagement.</summary>
    public string? Provider { get; init; }
    public string? Flag { get; init; }
    /// <summary>FeatureFlag: the flag service's address (Http: the endpoint itself).</summary>
    public Uri? ServiceUri { get; init; }
    public string? Project { get; init; }
    public string? Environment { get; init; }
    /// <summary>FeatureFlag: the API token; never logged or written.</summary>
    public string? ApiToken { get; init; }
    /// <summary>FeatureFlag Http: the method, extra headers and body template ({flag} and {enabled} are filled in).</summary>
    public string HttpMethod { get; init; } = "POST";
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();
    public string? BodyTemplate { get; init; }
    /// <summary>FeatureFlag: turn the flag back to the state recorded before it was disabled.</summary>
    public bool Restore { get; init; }
    public bool SkipCertificateCheck { get; init; }
    /// <summary>Config: the copy to restore (the spec's config/app.previous.yml).</summary>
    public string? PreviousPath { get; init; }

    /// <summary>Database: Django, Alembic, EfCore or Rails.</summary>
    public string? Tool { get; init; }
    /// <summary>Database: the interpreter or tool to run (python3, alembic, dotnet, bin/rails).</summary>
    public string? ToolPath { get; init; }
    /// <summary>Database Django: the app whose migrations are rolled back.</summary>
    public string? App { get; init; }
    /// <summary>Database: extra environment for the tool (connection strings); values never logged or written.</summary>
    public IReadOnlyDictionary<string, string>? ToolEnvironment { get; init; }

    /// <summary>Kubernetes: the workload's namespace; the context's namespace when null.</summary>
    public string? Namespace { get; init; }
    /// <summary>Kubernetes: Deployment, StatefulSet or DaemonSet.</summary>
    public string? Kind { get; init; }
    /// <summary>Kubernetes: the kubeconfig file; KUBECONFIG, ~/.kube/config or the in-cluster service account when null.</summary>
    public string? KubeConfig { get; init; }
    public string? KubeContext { get; init; }
    /// <summary>Kubernetes: roll back every workload matching this label selector (the failing ones unless All).</summary>
    public string? Selector { get; init; }
    public bool All { get; init; }
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
    public IReadOnlyList<string> LogExcerpts { get; init; } = Array.Empty<string>();
    /// <summary>The failure type the target's own state shows (e.g. an unhealthy container), if any.</summary>
    public FailureType FailureType { get; init; }
    /// <summary>Strategy-specific state worth showing (container state, exit code, restart count...).</summary>
    public IReadOnlyDictionary<string, string> Facts { get; init; } = new Dictionary<string, string>();
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

    /// <summary>
    /// After verification: keep the change (verified true: e.g. remove the failed container) or put back what the
    /// steps replaced (false). Null when the strategy has nothing to finish.
    /// </summary>
    Task<StepResult?> CompleteAsync(RollbackPlan plan, RollbackRequest request, bool verified, EngineContext context);

    /// <summary>
    /// Saves what a later rollback needs to restore this version (e.g. the resolved compose configuration) into
    /// folder when the version is recorded verified-good. Returns false when the version alone is enough.
    /// </summary>
    Task<bool> CaptureVerifiedSnapshotAsync(RollbackRequest request, string folder, EngineContext context);
}

/// <summary>One target a selection found, with whether it is failing now (only failing ones are rolled back unless -All).</summary>
public sealed record SelectedTarget(RollbackRequest Request, bool Failing, string State);

/// <summary>A strategy whose request can name many targets at once (Kubernetes: a label selector).</summary>
public interface ISelectsTargets
{
    /// <summary>Every target the request's selection names, each as a request for one target; throws when none matches.</summary>
    Task<IReadOnlyList<SelectedTarget>> SelectAsync(RollbackRequest request, EngineContext context);
}
