using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>Phase 1: identifies the failure, the current and last good versions, and the recommended strategy.</summary>
[Cmdlet(VerbsCommon.Get, "RollbackAssessment")]
[OutputType(typeof(RollbackAssessment))]
public sealed class GetRollbackAssessmentCommand : TargetedCmdletBase
{
    /// <summary>The failure type when the caller knows it (e.g. users reported issues).</summary>
    [Parameter]
    [ValidateSet("Unknown", "DeploymentNeverCompleted", "HealthCheckFailed", "SmokeTestFailed", "UserReportedIssues", IgnoreCase = true)]
    public string? FailureType { get; set; }

    /// <summary>Why the deployment failed, if known.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Reason { get; set; }

    protected override void ProcessRecord()
    {
        var request = BuildRequest(r => r with { FailureType = ParseEnum<FailureType>(FailureType), Reason = Reason })!;
        WriteObject(RunEngine(context => RollbackEngine.AssessAsync(request, context)));
    }
}
