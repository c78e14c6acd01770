namespace DeploymentRollback;

/// <summary>A Compose project.</summary>
public sealed record DockerComposeTarget : DeploymentTarget
{
    /// <summary>The project folder.</summary>
    public string? Path { get; init; }
    /// <summary>The compose file (default: the Compose CLI's own lookup in Path).</summary>
    public string? File { get; init; }
    /// <summary>The spec's docker-compose.previous.yml.</summary>
    public string? PreviousFile { get; init; }
    public string? ProjectName { get; init; }
    /// <summary>Only these services (partial rollback).</summary>
    public IReadOnlyList<string> Services { get; init; } = Array.Empty<string>();
    /// <summary>The engine's address; DOCKER_HOST or the platform default when null.</summary>
    public string? DockerHost { get; init; }
    /// <summary>How long to wait for the rolled-back workload to be running and healthy.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(5);
}
