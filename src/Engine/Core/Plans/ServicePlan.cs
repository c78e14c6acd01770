namespace DeploymentRollback.Engine;

/// <summary>One component of a plan: its target and its own checks and restart, as Invoke-Rollback would be given them.</summary>
public sealed record PlanComponent
{
    public required string Name { get; init; }
    public required RollbackRequest Request { get; init; }
    /// <summary>The components this one needs at run time: it goes back before them, and goes back whenever one of them does.</summary>
    public IReadOnlyList<string> DependsOn { get; init; } = Array.Empty<string>();
    /// <summary>Where the component is declared in the plan file (0 for a hashtable).</summary>
    public int Line { get; init; }

    public RollbackStage Stage => StrategyRegistry.StageOf(Request.Deployment);
}

/// <summary>A service's plan (rollback.psd1): its components, and the checks that say the whole service works.</summary>
public sealed record ServicePlan
{
    public required string Service { get; init; }
    /// <summary>The plan file, when the plan came from one.</summary>
    public string? Path { get; init; }
    public required IReadOnlyList<PlanComponent> Components { get; init; }
    public VerificationOptions Verification { get; init; } = new();
    /// <summary>Runs once after every component went back and before the service's checks (e.g. restart the app).</summary>
    public ScriptAction? RestartScript { get; init; }

    /// <summary>The journal key of the service as a whole: its release snapshots, plan attempts and escalation count.</summary>
    public string TargetKey => "plan:" + Service;

    public PlanComponent? Find(string name) => Components.FirstOrDefault(c => c.Name.Equals(name, StringComparison.OrdinalIgnoreCase));
}

/// <summary>How a plan is rolled back: which release, which components, and the options every component shares.</summary>
public sealed record PlanRunOptions
{
    /// <summary>A release id or label; the newest release snapshot when null.</summary>
    public string? Snapshot { get; init; }
    /// <summary>Only these components (-Component); empty means the failing ones that differ (or every one with All).</summary>
    public IReadOnlyList<string> Components { get; init; } = Array.Empty<string>();
    /// <summary>Components left out, with why.</summary>
    public IReadOnlyDictionary<string, string> Skip { get; init; } = new Dictionary<string, string>();
    public bool All { get; init; }
    public bool ContinueOnError { get; init; }
    /// <summary>At most this many components of one wave at once.</summary>
    public int Parallelism { get; init; } = 4;
    public string? Reason { get; init; }
    /// <summary>Null for a person; "watcher" or "listener" for an automatic rollback.</summary>
    public string? Initiator { get; init; }
    public FailureType? FailureType { get; init; }
    public Uri? WebhookUri { get; init; }
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public EscalationOptions Escalation { get; init; } = new();
    public bool Force { get; init; }
    public string? CheckpointDirectory { get; init; }
    /// <summary>Each component's checkpoint is named this with "-&lt;component&gt;" added; the default names otherwise.</summary>
    public string? CheckpointName { get; init; }
}
