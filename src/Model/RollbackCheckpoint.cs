namespace DeploymentRollback;

/// <summary>The failed state, kept for forensics: a folder with a manifest and captured artefacts.</summary>
public sealed class RollbackCheckpoint
{
    public string Name { get; init; } = "";
    public string Strategy { get; init; } = "";
    public string TargetKey { get; init; } = "";
    public string Path { get; init; } = "";
    public string StateDirectory { get; init; } = "";
    public string Folder { get; init; } = "";
    public DateTimeOffset CreatedAt { get; init; }
    public string? Version { get; init; }
    public string? Commit { get; init; }
    public IReadOnlyList<string> Artefacts { get; init; } = Array.Empty<string>();
    /// <summary>The artefacts that are the target's logs as captured: their error lines are compared with the logs after the rollback.</summary>
    public IReadOnlyList<string> Logs { get; init; } = Array.Empty<string>();
    public IReadOnlyDictionary<string, string> Details { get; init; } = new Dictionary<string, string>();
    /// <summary>The target (without secrets), so a piped checkpoint names its target for Invoke-Rollback.</summary>
    public DeploymentTarget? Deployment { get; init; }
}
