using System.Management.Automation;

namespace DeploymentRollback.Commands;

/// <summary>-Strategy Config: a configuration file.</summary>
public sealed class ConfigParameters : StrategyParameters
{
    /// <summary>The live configuration file.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>The previous copy to restore (the spec's config/app.previous.yml); relative to the config file's folder.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? PreviousPath { get; set; }

    public override bool TakesTargetVersion => false;

    public override DeploymentTarget ToTarget(DeploymentTarget? piped, PathResolver paths)
    {
        var earlier = piped as ConfigTarget;
        return new ConfigTarget { Path = paths.OrCurrent(Path, earlier?.Path), PreviousPath = PreviousPath ?? earlier?.PreviousPath };
    }
}
