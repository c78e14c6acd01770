using System.Collections;
using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>
/// Cmdlets that roll back on their own (a watcher, an alert listener): the target or plan, how to roll it back, the
/// cooldown and how long to run. They stop on Ctrl+C or a service manager's SIGTERM.
/// </summary>
public abstract class AutomaticCmdletBase : TargetedCmdletBase
{
    /// <summary>The version (with -Plan, the release) to roll back to; the last verified-good one when not given.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Target { get; set; }

    /// <summary>Runs after the rollback's change and before its verification.</summary>
    [Parameter]
    [ValidateNotNull]
    public object? RestartScript { get; set; }

    /// <summary>Also POST every signal of the rollbacks to this URL as a CloudEvent.</summary>
    [Parameter]
    [ValidateNotNull]
    public Uri? WebhookUri { get; set; }

    /// <summary>Tell people when a rollback starts and ends, and when a person is needed.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? NotifyUri { get; set; }

    /// <summary>Seconds a rollback waits for another one of the same target to finish.</summary>
    [Parameter]
    [ValidateRange(0, 86400)]
    public int LockTimeoutSec { get; set; } = 60;

    /// <summary>Failed attempts within this many minutes count toward escalation (the third one escalates).</summary>
    [Parameter]
    [ValidateRange(1, 10080)]
    public int EscalationWindowMinutes { get; set; } = 60;

    /// <summary>A service's plan (a rollback.psd1 path or a hashtable) to roll back.</summary>
    [Parameter]
    [ValidateNotNull]
    public object? Plan { get; set; }

    /// <summary>-Plan: parameters given at run time per component, e.g. @{ 'checkout-flag' = @{ ApiToken = $token } }.</summary>
    [Parameter]
    [ValidateNotNull]
    public Hashtable? ComponentParameter { get; set; }

    /// <summary>After an automatic rollback of the target, no other one for this many seconds.</summary>
    [Parameter]
    [ValidateRange(0, 604800)]
    public double CooldownSec { get; set; } = 300;

    /// <summary>Run this many seconds, then return; 0 runs until stopped.</summary>
    [Parameter]
    [ValidateRange(0, 31536000)]
    public double DurationSec { get; set; }

    /// <summary>Record and say what would be done; never roll back.</summary>
    [Parameter]
    public SwitchParameter DryRun { get; set; }

    protected override bool TakesRollbackOptions => true;

    protected TimeSpan? Duration => DurationSec > 0 ? TimeSpan.FromSeconds(DurationSec) : null;

    /// <summary>
    /// The rollback to run on its own (null without -Plan or a target, when the command may do without one), and the
    /// checks that prove the target healthy: the plan's service checks, else its components', or the target's own.
    /// Argument errors end the command before anything runs.
    /// </summary>
    protected (Func<EngineContext, AutomaticRollback?> Action, VerificationOptions Checks) BuildAutomatic()
    {
        UseNotifyTargets(NotifyUri);
        CheckPlanOnly(Plan is not null, nameof(ComponentParameter));
        var restart = RestartScript is null ? null : ToScriptAction(RestartScript, "restart script");
        var escalation = new EscalationOptions { Window = TimeSpan.FromMinutes(EscalationWindowMinutes) };
        if (Plan is not null)
        {
            CheckPlanAlone(null);
            var plan = WithServiceChecks(ReadPlan(Plan, ComponentParameter));
            plan = restart is null ? plan : plan with { RestartScript = restart };
            var checks = plan.Verification.Any ? plan.Verification : new VerificationOptions
            {
                HealthChecks = plan.Components.SelectMany(c => c.Request.Verification.HealthChecks).ToList(),
                SmokeTests = plan.Components.SelectMany(c => c.Request.Verification.SmokeTests).ToList(),
            };
            var runOptions = new PlanRunOptions { Snapshot = Target, WebhookUri = WebhookUri, LockTimeout = TimeSpan.FromSeconds(LockTimeoutSec), Escalation = escalation };
            return (_ => AutomaticRollback.ForPlan(plan, runOptions), checks);
        }

        var request = BuildRequest(r => r with { Target = Target, RestartScript = restart, WebhookUri = WebhookUri, LockTimeout = TimeSpan.FromSeconds(LockTimeoutSec), Escalation = escalation });
        if (request is null)
        {
            return (_ => null, BuildVerification());
        }

        if (request.Deployment.IsSelection)
        {
            ThrowTerminatingError(ToErrorRecord(new RollbackException(ErrorIds.WatchSelectionNotSupported, RollbackErrorKind.InvalidArgument,
                "A watcher or listener acts on one target or one plan, not a selection (-Selector or -All). Start one per workload, or name them as components of a plan and give -Plan.")));
        }

        return (context => AutomaticRollback.ForTarget(request, context), request.Verification);
    }

    /// <summary>Runs the long-running engine work until it ends, Ctrl+C, or SIGTERM (which ends it after the rollback under way).</summary>
    protected T RunUntilStopped<T>(Func<EngineContext, CancellationToken, Task<T>> work)
    {
        using var stop = new CancellationTokenSource();
        using var sigterm = OnSigterm(stop);
        return RunEngine(context => work(context, stop.Token));
    }
}
