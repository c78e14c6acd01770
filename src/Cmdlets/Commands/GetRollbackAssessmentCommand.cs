using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>Phase 1: identifies the failure, the current and last good versions, and the recommended strategy.</summary>
[Cmdlet(VerbsCommon.Get, "RollbackAssessment")]
[OutputType(typeof(RollbackAssessment), typeof(PlanAssessment))]
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

    /// <summary>A service's plan (a rollback.psd1 path or a hashtable): assess every component against the release snapshot, and preflight each.</summary>
    [Parameter]
    [ValidateNotNull]
    public object? Plan { get; set; }

    /// <summary>-Plan: the release snapshot (id or label) to assess against; the newest when not given.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Target { get; set; }

    /// <summary>-Plan: only these components are chosen to go back (every component is still assessed).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] Component { get; set; } = Array.Empty<string>();

    /// <summary>-Plan: choose every component to go back, not only the failing ones that differ from the release snapshot.</summary>
    [Parameter]
    public SwitchParameter All { get; set; }

    /// <summary>-Plan: parameters given at run time per component, e.g. @{ 'checkout-flag' = @{ ApiToken = $token } }.</summary>
    [Parameter]
    [ValidateNotNull]
    public System.Collections.Hashtable? ComponentParameter { get; set; }

    protected override void ProcessRecord()
    {
        CheckPlanOnly(Plan is not null, nameof(Target), nameof(Component), nameof(All), nameof(ComponentParameter));
        if (Plan is not null)
        {
            CheckPlanAlone(Binding.Piped);
            var plan = WithServiceChecks(ReadPlan(Plan, ComponentParameter));
            var options = new PlanRunOptions
            {
                Snapshot = Target, Components = Component, All = All,
                Reason = Reason, FailureType = ParseEnum<FailureType>(FailureType),
            };
            WriteObject(RunEngine(context => PlanEngine.AssessAsync(plan, options, context)));
            return;
        }

        var request = BuildRequest(r => r with { FailureType = ParseEnum<FailureType>(FailureType), Reason = Reason })!;
        WriteObject(RunEngine(context => RollbackEngine.AssessAsync(request, context)));
    }
}
