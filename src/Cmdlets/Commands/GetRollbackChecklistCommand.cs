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

    /// <summary>A service's plan (a rollback.psd1 path or a hashtable): its newest plan attempt, when no -AttemptId is given.</summary>
    [Parameter]
    [ValidateNotNull]
    public object? Plan { get; set; }

    protected override void ProcessRecord()
    {
        if (Plan is not null)
        {
            TargetKey = ReadPlan(Plan, null).TargetKey;
        }

        var items = RunEngine(context => Task.FromResult(Checklist.Build(context.State,
            IncidentReportWriter.FindAttempt(context.State, AttemptId, AttemptId is null ? TargetKey : null))));
        WriteObject(items, enumerateCollection: true);
    }
}
