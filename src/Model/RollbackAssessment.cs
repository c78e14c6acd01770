namespace DeploymentRollback;

/// <summary>Phase 1: what failed, where things stand, and where to go back to.</summary>
public sealed class RollbackAssessment
{
    public string Strategy { get; init; } = "";
    public string TargetKey { get; init; } = "";
    public string Path { get; init; } = "";
    public string StateDirectory { get; init; } = "";
    public DateTimeOffset AssessedAt { get; init; }
    public FailureType FailureType { get; init; }
    public string? FailureReason { get; init; }
    public string? CurrentVersion { get; init; }
    public string? CurrentCommit { get; init; }
    public string? LastGoodVersion { get; init; }
    /// <summary>Where the last good version came from: the journal's verified-good record, or the previous release.</summary>
    public string? LastGoodSource { get; init; }
    public IReadOnlyList<string> Errors { get; init; } = Array.Empty<string>();
    public IReadOnlyList<string> LogExcerpts { get; init; } = Array.Empty<string>();
    public IReadOnlyList<string> AffectedComponents { get; init; } = Array.Empty<string>();
    /// <summary>The changes between the last good version and the current one, newest first.</summary>
    public IReadOnlyList<string> Changes { get; init; } = Array.Empty<string>();
    public string RecommendedStrategy { get; init; } = "";
    public string Rationale { get; init; } = "";
    public HealthReport? Health { get; init; }
    public bool HasUncommittedChanges { get; init; }
    /// <summary>Strategy-specific state (e.g. a container's state, exit code, OOM kill, restart count, health).</summary>
    public IReadOnlyDictionary<string, string> Facts { get; init; } = new Dictionary<string, string>();
    /// <summary>Set by New-RollbackCheckpoint -PassThru, so Invoke-Rollback reuses the checkpoint.</summary>
    public RollbackCheckpoint? Checkpoint { get; set; }
    /// <summary>The target (without secrets), carried down the pipeline to New-RollbackCheckpoint and Invoke-Rollback.</summary>
    public DeploymentTarget? Deployment { get; init; }
    /// <summary>The LastGoodVersion under the name Invoke-Rollback binds from the pipeline.</summary>
    public string? Target => LastGoodVersion;
}
