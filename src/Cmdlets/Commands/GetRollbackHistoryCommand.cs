using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>Lists rollback attempts from the journal (newest first), or with -Verified the versions recorded verified-good.</summary>
[Cmdlet(VerbsCommon.Get, "RollbackHistory", DefaultParameterSetName = AttemptsSet)]
[OutputType(typeof(RollbackResult), ParameterSetName = new[] { AttemptsSet })]
[OutputType(typeof(VerifiedVersion), ParameterSetName = new[] { VerifiedSet })]
[OutputType(typeof(ReleaseSnapshot), ParameterSetName = new[] { PlanSet })]
public sealed class GetRollbackHistoryCommand : RollbackCmdletBase
{
    private const string AttemptsSet = "Attempts";
    private const string VerifiedSet = "Verified";
    private const string PlanSet = "Plan";

    /// <summary>Only this target (e.g. git:/srv/app).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? TargetKey { get; set; }

    [Parameter(ParameterSetName = AttemptsSet, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? AttemptId { get; set; }

    [Parameter]
    [ValidateRange(1, 100000)]
    public int Last { get; set; } = 100;

    /// <summary>List the versions recorded verified-good instead of attempts.</summary>
    [Parameter(Mandatory = true, ParameterSetName = VerifiedSet)]
    public SwitchParameter Verified { get; set; }

    /// <summary>A service's plan (a rollback.psd1 path or a hashtable): list its release snapshots, newest first.</summary>
    [Parameter(Mandatory = true, ParameterSetName = PlanSet)]
    [ValidateNotNull]
    public object? Plan { get; set; }

    protected override void ProcessRecord()
    {
        if (Plan is not null)
        {
            var plan = ReadPlan(Plan, null);
            WriteObject(RunEngine(context => Task.FromResult(ReleaseSnapshots.List(context.State, plan.TargetKey).Take(Last).ToList())), enumerateCollection: true);
            return;
        }

        if (Verified)
        {
            WriteObject(RunEngine(context => Task.FromResult(context.State.Journal.GetVerified(TargetKey, Last))), enumerateCollection: true);
            return;
        }

        WriteObject(RunEngine(context => Task.FromResult(context.State.Journal.GetAttempts(TargetKey, AttemptId, limit: Last))), enumerateCollection: true);
    }
}
