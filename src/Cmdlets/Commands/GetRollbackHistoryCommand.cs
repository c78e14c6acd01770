using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>Lists rollback attempts from the journal (newest first), or with -Verified the versions recorded verified-good.</summary>
[Cmdlet(VerbsCommon.Get, "RollbackHistory", DefaultParameterSetName = AttemptsSet)]
[OutputType(typeof(RollbackResult), ParameterSetName = new[] { AttemptsSet })]
[OutputType(typeof(VerifiedVersion), ParameterSetName = new[] { VerifiedSet })]
[OutputType(typeof(ReleaseSnapshot), ParameterSetName = new[] { PlanSet })]
[OutputType(typeof(WatchDecision), typeof(WatchMeasurement), ParameterSetName = new[] { WatchSet })]
public sealed class GetRollbackHistoryCommand : RollbackCmdletBase
{
    private const string AttemptsSet = "Attempts";
    private const string VerifiedSet = "Verified";
    private const string PlanSet = "Plan";
    private const string WatchSet = "Watch";

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

    /// <summary>List a watcher's decisions for the target (-TargetKey), newest first.</summary>
    [Parameter(Mandatory = true, ParameterSetName = WatchSet)]
    public SwitchParameter Watch { get; set; }

    /// <summary>-Watch: list the journaled measurements instead of the decisions.</summary>
    [Parameter(ParameterSetName = WatchSet)]
    public SwitchParameter Measurement { get; set; }

    protected override void ProcessRecord()
    {
        if (Watch)
        {
            if (TargetKey is null)
            {
                ThrowTerminatingError(ToErrorRecord(new RollbackException(ErrorIds.WatchTargetKeyRequired, RollbackErrorKind.InvalidArgument,
                    "-Watch lists one target's watch: give -TargetKey (e.g. plan:checkout, or the key Get-RollbackHistory shows).") { TargetName = nameof(TargetKey) }));
            }

            WriteObject(Measurement
                ? RunEngine(context => Task.FromResult<object>(WatchEvents.Measurements(context.State.Journal, TargetKey!, Last)))
                : RunEngine(context => Task.FromResult<object>(WatchEvents.Decisions(context.State.Journal, TargetKey!, Last))), enumerateCollection: true);
            return;
        }

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
