using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>The spec's rollback checklist for an attempt, with the items the journal proves ticked.</summary>
[Cmdlet(VerbsCommon.Get, "RollbackChecklist")]
[OutputType(typeof(ChecklistItem))]
public sealed class GetRollbackChecklistCommand : RollbackCmdletBase
{
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? AttemptId { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? TargetKey { get; set; }

    protected override void ProcessRecord()
    {
        var items = RunEngine(context => Task.FromResult(Checklist.Build(context.State,
            IncidentReportWriter.FindAttempt(context.State, AttemptId, AttemptId is null ? TargetKey : null))));
        WriteObject(items, enumerateCollection: true);
    }
}
