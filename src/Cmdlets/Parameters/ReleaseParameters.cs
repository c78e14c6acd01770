using System.Management.Automation;

namespace DeploymentRollback.Commands;

/// <summary>-Strategy Release: a releases/&lt;version&gt;/ + current layout.</summary>
public sealed class ReleaseParameters : StrategyParameters
{
    /// <summary>The deploy folder that holds releases/ and current; the current folder when not given.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    public override DeploymentTarget ToTarget(DeploymentTarget? piped, PathResolver paths) =>
        new ReleaseTarget { Path = paths.OrCurrent(Path, (piped as ReleaseTarget)?.Path) };
}
