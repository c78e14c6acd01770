using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>Runs health checks and smoke tests; can record the current version as verified-good.</summary>
[Cmdlet(VerbsDiagnostic.Test, "RollbackHealth", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(HealthReport))]
public sealed class TestRollbackHealthCommand : TargetedCmdletBase
{
    /// <summary>HTTP endpoints that must answer healthy (same as -HealthCheckUri).</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    public string[] Uri { get => HealthCheckUri; set => HealthCheckUri = value; }

    /// <summary>The strategy of the target to record the verdict for; not positional here, where -Uri comes first.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(StrategyCompleter))]
    [ValidateNotNullOrEmpty]
    public override string? Strategy { get => base.Strategy; set => base.Strategy = value; }

    /// <summary>A rollback result from Invoke-Rollback: the checks become its post-rollback verification.</summary>
    [Parameter(ValueFromPipeline = true)]
    public RollbackResult? InputObject { get; set; }

    /// <summary>When everything passes, record the target's current version as verified-good (the default rollback target from then on).</summary>
    [Parameter]
    public SwitchParameter RecordVerified { get; set; }

    /// <summary>When a check fails, emit HEALTH_CHECK_FAILED for the target.</summary>
    [Parameter]
    public SwitchParameter SignalOnFailure { get; set; }

    [Parameter]
    [ValidateNotNull]
    public Uri? WebhookUri { get; set; }

    /// <summary>A service's plan: check the service and every component; with -RecordVerified, record a release snapshot.</summary>
    [Parameter]
    [ValidateNotNull]
    public object? Plan { get; set; }

    /// <summary>-Plan -RecordVerified: a name for the release (e.g. v2.3.0); the first component version that reads as one when not given.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Label { get; set; }

    /// <summary>-Plan: parameters given at run time per component, e.g. @{ 'checkout-flag' = @{ ApiToken = $token } }.</summary>
    [Parameter]
    [ValidateNotNull]
    public System.Collections.Hashtable? ComponentParameter { get; set; }

    /// <summary>Checks of endpoints alone name no target; recording or signalling a verdict, or a target parameter, does.</summary>
    protected override bool NamesTarget(DeploymentTarget? piped) =>
        Strategy is not null || piped is not null || InputObject is not null || RecordVerified || SignalOnFailure || Binding.AnyGiven;

    protected override void ProcessRecord()
    {
        CheckPlanOnly(Plan is not null, nameof(Label), nameof(ComponentParameter));
        if (Plan is not null)
        {
            CheckPlanAlone(InputObject?.Deployment ?? Binding.Piped);
            var plan = WithServiceChecks(ReadPlan(Plan, ComponentParameter));
            if (!plan.Verification.Any && !plan.Components.Any(c => c.Request.Verification.Any))
            {
                ThrowTerminatingError(ToErrorRecord(new RollbackException(ErrorIds.HealthCheckUriInvalid, RollbackErrorKind.InvalidArgument,
                    "Nothing to check: the plan has no HealthCheckUri or SmokeTest (for the service or a component), and none was given with -Uri or -SmokeTest.")));
            }

            WriteObject(RunEngine(context => PlanEngine.TestHealthAsync(plan, RecordVerified, Label, SignalOnFailure, WebhookUri, context)));
            return;
        }

        var request = BuildRequest(r => r with { WebhookUri = WebhookUri }, InputObject?.Deployment);
        var verification = request?.Verification ?? BuildVerification();
        if (!verification.Any)
        {
            ThrowTerminatingError(ToErrorRecord(new RollbackException(ErrorIds.HealthCheckUriInvalid, RollbackErrorKind.InvalidArgument,
                "Nothing to check: pass -Uri (health endpoints) and/or -SmokeTest.")));
        }

        var report = RunEngine(context => RollbackEngine.TestHealthAsync(request, verification, InputObject?.AttemptId, RecordVerified, SignalOnFailure, context));
        WriteObject(report);
    }
}
