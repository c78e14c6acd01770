using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>Checks a plan file (rollback.psd1) without touching any target: one error, with its id and line, per problem.</summary>
[Cmdlet(VerbsDiagnostic.Test, "RollbackPlan")]
[OutputType(typeof(PlanValidation))]
public sealed class TestRollbackPlanCommand : RollbackCmdletBase
{
    /// <summary>The plan file, or a hashtable with the same keys.</summary>
    [Parameter(Position = 0, Mandatory = true, ValueFromPipeline = true)]
    [Alias("Path")]
    [ValidateNotNull]
    public object? Plan { get; set; }

    /// <summary>Parameters the plan's components will be given at run time (-ComponentParameter of Invoke-Rollback), checked with the file's.</summary>
    [Parameter]
    [ValidateNotNull]
    public System.Collections.Hashtable? ComponentParameter { get; set; }

    protected override void ProcessRecord()
    {
        var (_, validation) = ReadPlanUnchecked(Plan!, ComponentParameter);
        foreach (var problem in validation.Problems)
        {
            WriteError(ToErrorRecord(new RollbackException(problem.ErrorId, RollbackErrorKind.InvalidArgument,
                $"{validation.Path ?? "(hashtable)"}{(problem.Line > 0 ? ":" + problem.Line : "")}: {problem.Message}") { TargetName = problem.Component ?? validation.Path }));
        }

        WriteObject(validation);
    }
}
