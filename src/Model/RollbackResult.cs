namespace DeploymentRollback;

/// <summary>Phase 3 and 4: one rollback attempt and its verdict.</summary>
public sealed class RollbackResult
{
    public string AttemptId { get; set; } = "";
    public string Strategy { get; set; } = "";
    public string TargetKey { get; set; } = "";
    public string Path { get; set; } = "";
    public string StateDirectory { get; set; } = "";
    public RollbackOutcome Outcome { get; set; }
    public string? FromVersion { get; set; }
    public string? ToVersion { get; set; }
    public string? Reason { get; set; }
    /// <summary>Who started it: null for a person at a prompt or in a runbook, "watcher" or "listener" when started automatically.</summary>
    public string? Initiator { get; set; }
    public string? Message { get; set; }
    public FailureType FailureType { get; set; }
    public int AttemptNumber { get; set; }
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset CompletedAt { get; set; }
    public TimeSpan Duration { get; set; }
    /// <summary>From the first sign of failure (DEPLOYMENT_FAILED signal or assessment) to verified recovery.</summary>
    public TimeSpan? TimeToRecovery { get; set; }
    public DateTimeOffset? FailureDetectedAt { get; set; }
    public string? CheckpointName { get; set; }
    public List<StepResult> Steps { get; set; } = new();
    public VerificationOutcome Verification { get; set; }
    public HealthReport? Health { get; set; }
    public List<string> Signals { get; set; } = new();
    public List<string> Changes { get; set; } = new();
    /// <summary>The target (without secrets), so a piped result can be checked or reported on without repeating it.</summary>
    public DeploymentTarget? Deployment { get; set; }
    /// <summary>A plan's attempt: what it did with each component (empty for one target).</summary>
    public List<ComponentOutcome> Components { get; set; } = new();
}

public sealed class StepResult
{
    public string Name { get; set; } = "";
    public StepStatus Status { get; set; }
    public DateTimeOffset StartedAt { get; set; }
    public TimeSpan Duration { get; set; }
    public string? Message { get; set; }
    public string? Output { get; set; }
    /// <summary>The stable error id when the step failed on a known error (e.g. ContainerPortInUse).</summary>
    public string? ErrorId { get; set; }
    /// <summary>The failure meets an escalation criterion by itself (e.g. an inconsistent database): escalate at once.</summary>
    public bool Escalate { get; set; }
}
