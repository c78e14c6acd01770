using System.Management.Automation;

namespace DeploymentRollback.Commands;

/// <summary>-Strategy DockerCompose: a Compose project.</summary>
public sealed class DockerComposeParameters : StrategyParameters
{
    /// <summary>The project folder; the current folder when not given.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>The project's compose file, when not the default name in -Path (a relative path is relative to -Path).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? File { get; set; }

    /// <summary>The project name, when not Compose's default for the folder.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ProjectName { get; set; }

    /// <summary>Only these services.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] Service { get; set; } = Array.Empty<string>();

    /// <summary>The Docker engine's address (default: DOCKER_HOST, else the local socket or pipe).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? DockerHost { get; set; }

    /// <summary>The previous compose file to go back to (the spec's docker-compose.previous.yml); relative to -Path.</summary>
    [Parameter, RollbackOption]
    [ValidateNotNullOrEmpty]
    public string? PreviousFile { get; set; }

    /// <summary>Seconds to wait for the rolled-back services to be running and healthy.</summary>
    [Parameter, RollbackOption]
    [ValidateRange(1, 86400)]
    public int TimeoutSec { get; set; } = 300;

    public override bool TakesTargetVersion => false;

    public override DeploymentTarget ToTarget(DeploymentTarget? piped, PathResolver paths)
    {
        var earlier = piped as DockerComposeTarget;
        return new DockerComposeTarget
        {
            Path = paths.OrCurrent(Path, earlier?.Path),
            File = File ?? earlier?.File,
            ProjectName = ProjectName ?? earlier?.ProjectName,
            Services = Service.Length > 0 ? Service : earlier?.Services ?? Array.Empty<string>(),
            DockerHost = DockerHost ?? earlier?.DockerHost,
            PreviousFile = PreviousFile,
            Timeout = TimeSpan.FromSeconds(TimeoutSec),
        };
    }
}
