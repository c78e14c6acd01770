namespace DeploymentRollback;

/// <summary>One Docker container.</summary>
public sealed record ContainerTarget : DeploymentTarget
{
    /// <summary>The container's name or id.</summary>
    public string? Name { get; init; }
    /// <summary>The engine's address; DOCKER_HOST or the platform default when null.</summary>
    public string? DockerHost { get; init; }
    /// <summary>Keep the failed container (renamed) after a verified rollback.</summary>
    public bool KeepFailed { get; init; }
    /// <summary>How long to wait for the rolled-back workload to be running and healthy.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(5);
}
