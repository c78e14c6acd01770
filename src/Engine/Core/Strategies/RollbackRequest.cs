namespace DeploymentRollback.Engine;

/// <summary>One rollback, assessment, checkpoint or health check asked of the engine: the target and the shared options.</summary>
public sealed record RollbackRequest
{
    /// <summary>The target, as its strategy's record (GitTarget, KubernetesTarget...); it also chooses the strategy.</summary>
    public required DeploymentTarget Deployment { get; init; }

    /// <summary>The version to go back to; null means the last-good rule decides.</summary>
    public string? Target { get; init; }

    public VerificationOptions Verification { get; init; } = new();
    public EscalationOptions Escalation { get; init; } = new();

    /// <summary>How long to wait for another run holding the target's lock.</summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Every signal of the run is also POSTed here as a CloudEvent.</summary>
    public Uri? WebhookUri { get; init; }

    /// <summary>Go on despite an escalation (and, where a strategy says so, despite local changes it would stash).</summary>
    public bool Force { get; init; }

    public ScriptAction? RestartScript { get; init; }
    public string? Reason { get; init; }
    /// <summary>Null for a person; "watcher" or "listener" for an automatic rollback (recorded with the attempt).</summary>
    public string? Initiator { get; init; }
    public FailureType? FailureType { get; init; }
    public string? CheckpointName { get; init; }
    /// <summary>A folder for the checkpoint instead of the state's own (a shared store then keeps only its manifest).</summary>
    public string? CheckpointDirectory { get; init; }
    public RollbackCheckpoint? ExistingCheckpoint { get; init; }

    /// <summary>Accept any TLS certificate (health endpoints, flag services).</summary>
    public bool SkipCertificateCheck { get; init; }

    public string Strategy => Deployment.Strategy;

    /// <summary>The target as the strategy's own record; a session is only opened for its own kind of target.</summary>
    public T DeploymentAs<T>() where T : DeploymentTarget =>
        Deployment as T ?? throw new InvalidOperationException($"A {typeof(T).Name} was expected, not a {Deployment.GetType().Name}.");
}

/// <summary>How a run proves the target healthy: health checks and smoke tests.</summary>
public sealed record VerificationOptions
{
    public IReadOnlyList<HealthCheckOptions> HealthChecks { get; init; } = Array.Empty<HealthCheckOptions>();
    public IReadOnlyList<ScriptAction> SmokeTests { get; init; } = Array.Empty<ScriptAction>();

    public bool Any => HealthChecks.Count + SmokeTests.Count > 0;
}

/// <summary>When failed attempts stop being retried: this many within the window escalate.</summary>
public sealed record EscalationOptions
{
    public TimeSpan Window { get; init; } = TimeSpan.FromHours(1);
    public int Threshold { get; init; } = 3;
}
