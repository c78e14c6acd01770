namespace DeploymentRollback;

/// <summary>When a plan takes a kind of component back: the fastest kill switch first, the data last.</summary>
public enum RollbackStage
{
    FeatureFlags,
    Configuration,
    Application,
    Data,
}

/// <summary>One component's verified-good identity in a release snapshot.</summary>
public sealed class ComponentVersion
{
    public string Name { get; set; } = "";
    public string Strategy { get; set; } = "";
    public string TargetKey { get; set; } = "";
    public string? Version { get; set; }
    /// <summary>What pins the version exactly (a commit, image ids, a file hash, a migration head).</summary>
    public string? Identity { get; set; }
}

/// <summary>Every component of a service, verified good at one moment under one release id: where a plan rolls back to.</summary>
public sealed class ReleaseSnapshot
{
    public string ReleaseId { get; set; } = "";
    public string Service { get; set; } = "";
    /// <summary>A name people use for the release (e.g. v2.3.0); the default is the first versioned component's version.</summary>
    public string? Label { get; set; }
    public DateTimeOffset RecordedAt { get; set; }
    public string? Evidence { get; set; }
    public List<ComponentVersion> Components { get; set; } = new();
}

/// <summary>One component of a plan, assessed: where it is, where the snapshot has it, and whether it can go back.</summary>
public sealed class ComponentAssessment
{
    public string Name { get; set; } = "";
    public string Strategy { get; set; } = "";
    public string TargetKey { get; set; } = "";
    public RollbackStage Stage { get; set; }
    /// <summary>The wave it runs in: components of one wave run in parallel, waves in order.</summary>
    public int Wave { get; set; }
    public List<string> DependsOn { get; set; } = new();
    public string? CurrentVersion { get; set; }
    public string? SnapshotVersion { get; set; }
    /// <summary>Whether it differs from the release snapshot; null when the snapshot does not know it.</summary>
    public bool? Differs { get; set; }
    /// <summary>Whether its checks pass (its own, else the service's); null when nothing was checked.</summary>
    public bool? Healthy { get; set; }
    public HealthReport? Health { get; set; }
    /// <summary>Whether a rollback of the plan would take it back, and why (or why not).</summary>
    public bool Selected { get; set; }
    public string SelectionReason { get; set; } = "";
    public bool CanRollBack { get; set; }
    /// <summary>What keeps it from going back (an irreversible migration, a GitOps owner, an unreachable service...).</summary>
    public List<string> Problems { get; set; } = new();
    public string? FromVersion { get; set; }
    public string? ToVersion { get; set; }
    /// <summary>Its rollback's steps, as -WhatIf would list them.</summary>
    public List<string> Preview { get; set; } = new();
    /// <summary>The strategy's own assessment (Get-RollbackAssessment -Plan only).</summary>
    public RollbackAssessment? Assessment { get; set; }
}

/// <summary>A whole service assessed against its release snapshot, before anything changes.</summary>
public sealed class PlanAssessment
{
    public string Service { get; set; } = "";
    public string TargetKey { get; set; } = "";
    public string? PlanPath { get; set; }
    public string StateDirectory { get; set; } = "";
    public DateTimeOffset AssessedAt { get; set; }
    public string? ReleaseId { get; set; }
    public string? ReleaseLabel { get; set; }
    /// <summary>The service's own checks.</summary>
    public HealthReport? Health { get; set; }
    public FailureType FailureType { get; set; }
    public string? FailureReason { get; set; }
    public List<ComponentAssessment> Components { get; set; } = new();
    /// <summary>Whether every selected component passes its preflight.</summary>
    public bool CanRollBack => Components.Where(c => c.Selected).All(c => c.CanRollBack);
    public List<string> Problems => Components.Where(c => c.Selected).SelectMany(c => c.Problems.Select(p => $"{c.Name}: {p}")).ToList();
}

/// <summary>What a plan did with one component, and where the component is now.</summary>
public sealed class ComponentOutcome
{
    public string Name { get; set; } = "";
    public string Strategy { get; set; } = "";
    public string TargetKey { get; set; } = "";
    /// <summary>RolledBack, Unchanged (not selected), Skipped (-SkipComponent), Failed or NotRun (stopped before it).</summary>
    public string Action { get; set; } = "";
    public string? Reason { get; set; }
    public string? FromVersion { get; set; }
    public string? ToVersion { get; set; }
    /// <summary>Read after the plan ran: the version the component is at now.</summary>
    public string? VersionNow { get; set; }
    public RollbackOutcome? Outcome { get; set; }
    public string? AttemptId { get; set; }
    /// <summary>The checkpoint of the failed state the component's rollback made.</summary>
    public string? CheckpointName { get; set; }
    public int Wave { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public TimeSpan? Duration { get; set; }
    public string? Message { get; set; }
}

/// <summary>What Test-RollbackPlan found in a plan file.</summary>
public sealed class PlanValidation
{
    public string? Path { get; set; }
    public string? Service { get; set; }
    public bool Valid => Problems.Count == 0;
    public List<PlanProblem> Problems { get; set; } = new();
    /// <summary>The components in the order a rollback takes them (wave, then name).</summary>
    public List<ComponentAssessment> Components { get; set; } = new();
}

public sealed class PlanProblem
{
    public string ErrorId { get; set; } = "";
    /// <summary>The line in the plan file (0 when the plan is a hashtable).</summary>
    public int Line { get; set; }
    public string? Component { get; set; }
    public string Message { get; set; } = "";
    public override string ToString() => Line > 0 ? $"line {Line}: {Message}" : Message;
}
