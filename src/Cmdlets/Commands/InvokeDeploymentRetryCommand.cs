using System.Management.Automation;
using DeploymentRollback.Engine;
using DeploymentRollback.Engine.Retry;

namespace DeploymentRollback.Commands;

/// <summary>
/// Pattern 1, quick retry: waits, runs the deployment again, verifies it, and repeats up to -MaxAttempts; every attempt
/// is journaled and counts toward the target's escalation.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "DeploymentRetry", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = ScriptBlockSet)]
[OutputType(typeof(RollbackResult))]
public sealed class InvokeDeploymentRetryCommand : VerifyingCmdletBase
{
    private const string ScriptBlockSet = "ScriptBlock";
    private const string FileSet = "File";

    /// <summary>The deployment to run again, e.g. { ./deploy.sh --retry }.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ScriptBlockSet)]
    public ScriptBlock? ScriptBlock { get; set; }

    /// <summary>A deployment script or executable to run again (exit code 0 is success).</summary>
    [Parameter(Mandatory = true, ParameterSetName = FileSet)]
    [ValidateNotNullOrEmpty]
    public string? FilePath { get; set; }

    /// <summary>Arguments for -FilePath, passed as a list (never through a shell).</summary>
    [Parameter(ParameterSetName = FileSet)]
    public string[] ArgumentList { get; set; } = Array.Empty<string>();

    /// <summary>Seconds to wait before each attempt (the spec's sleep 30).</summary>
    [Parameter]
    [ValidateRange(0, 86400)]
    public double Delay { get; set; } = 30;

    [Parameter]
    [ValidateRange(1, 100)]
    public int MaxAttempts { get; set; } = 3;

    /// <summary>
    /// The journal target the attempts count against: a rollback's or assessment's TargetKey (also from a piped result
    /// or assessment), so retries and rollbacks of one target share its escalation count; else retry:&lt;script&gt;.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? TargetKey { get; set; }

    /// <summary>Why the deployment is retried; goes into the journal and signals.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Reason { get; set; }

    [Parameter]
    [ValidateNotNull]
    public Uri? WebhookUri { get; set; }

    /// <summary>Retry even though the target was escalated.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        RetryRequest request;
        try
        {
            var deploy = ToScriptAction((object?)ScriptBlock ?? FilePath!, "deployment", ArgumentList);
            request = new RetryRequest
            {
                TargetKey = TargetKey ?? "retry:" + deploy.Name,
                Deploy = deploy,
                Delay = TimeSpan.FromSeconds(Delay),
                MaxAttempts = MaxAttempts,
                HealthChecks = BuildHealthChecks(),
                SmokeTests = BuildSmokeTests(),
                Force = Force,
                WebhookUri = WebhookUri,
                Reason = Reason,
            };
        }
        catch (RollbackException e)
        {
            ThrowTerminatingError(ToErrorRecord(e));
            return;
        }

        foreach (var attempt in RunEngine(context => QuickRetry.RunAsync(request, context)))
        {
            if (attempt.Outcome is RollbackOutcome.Failed or RollbackOutcome.Escalated)
            {
                WriteWarning($"Retry attempt {attempt.AttemptNumber} {attempt.Outcome}: {attempt.Message}");
            }

            WriteObject(attempt);
        }
    }
}
