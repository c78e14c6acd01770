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

    /// <summary>Its -Uri is the health endpoint, so the flag parameters (with their own -Uri) are not offered here.</summary>
    public override object? GetDynamicParameters() => null;

    /// <summary>Checks of endpoints alone name no target; recording or signalling a verdict, or a target parameter, does.</summary>
    protected override bool NamesTarget(TargetSpec? piped) =>
        Strategy is not null || piped is not null || InputObject is not null || RecordVerified || SignalOnFailure || TargetParametersGiven;

    protected override void ProcessRecord()
    {
        var request = BuildRequest(r => r with { WebhookUri = WebhookUri }, InputObject?.TargetSpec);
        if (request.HealthChecks.Count + request.SmokeTests.Count == 0)
        {
            ThrowTerminatingError(ToErrorRecord(new RollbackException(ErrorIds.HealthCheckUriInvalid, RollbackErrorKind.InvalidArgument,
                "Nothing to check: pass -Uri (health endpoints) and/or -SmokeTest.")));
        }

        var report = RunEngine(context => RollbackEngine.TestHealthAsync(request, InputObject?.AttemptId, RecordVerified, SignalOnFailure, context, NamesTarget(InputObject?.TargetSpec)));
        WriteObject(report);
    }
}
