using System.Management.Automation;

namespace DeploymentRollback.Commands;

/// <summary>-Strategy Container: one Docker container.</summary>
public sealed class ContainerParameters : StrategyParameters
{
    /// <summary>The container's name.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    /// <summary>The Docker engine's address (default: DOCKER_HOST, else the local socket or pipe).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? DockerHost { get; set; }

    /// <summary>Keep the failed container (stopped, renamed) after a verified rollback.</summary>
    [Parameter, RollbackOption]
    public SwitchParameter KeepFailed { get; set; }

    /// <summary>Seconds to wait for the rolled-back container to be running and healthy.</summary>
    [Parameter, RollbackOption]
    [ValidateRange(1, 86400)]
    public int TimeoutSec { get; set; } = 300;

    public override DeploymentTarget ToTarget(DeploymentTarget? piped, PathResolver paths)
    {
        var earlier = piped as ContainerTarget;
        return new ContainerTarget
        {
            Name = Name ?? earlier?.Name,
            DockerHost = DockerHost ?? earlier?.DockerHost,
            KeepFailed = KeepFailed,
            Timeout = TimeSpan.FromSeconds(TimeoutSec),
        };
    }
}
