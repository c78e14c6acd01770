using System.Collections;
using System.Management.Automation;

namespace DeploymentRollback.Commands;

/// <summary>-Strategy Database: a project's schema, with its own migration tool.</summary>
public sealed class DatabaseParameters : StrategyParameters
{
    /// <summary>The migration tool.</summary>
    [Parameter]
    [ValidateSet("Django", "Alembic", "EfCore", "Rails", IgnoreCase = true)]
    public string? Tool { get; set; }

    /// <summary>The project folder; the current folder when not given.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>The interpreter or tool to run (e.g. a virtualenv's python, or dotnet).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ToolPath { get; set; }

    /// <summary>Django: the app whose migrations are rolled back.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? App { get; set; }

    /// <summary>Extra environment for the tool, e.g. @{ DATABASE_URL = ... }; values are never logged or written.</summary>
    [Parameter]
    public Hashtable? ToolEnvironment { get; set; }

    public override DeploymentTarget ToTarget(DeploymentTarget? piped, PathResolver paths)
    {
        var earlier = piped as DatabaseTarget;
        return new DatabaseTarget
        {
            Tool = Tool ?? earlier?.Tool,
            Path = paths.OrCurrent(Path, earlier?.Path),
            ToolPath = ToolPath ?? earlier?.ToolPath,
            App = App ?? earlier?.App,
            ToolEnvironment = ToDictionary(ToolEnvironment),
        };
    }
}
