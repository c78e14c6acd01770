using System.Collections;
using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>
/// Watches a target or a plan (health checks, smoke tests, Prometheus queries) and rolls it back when it is really
/// failing: once per failed version, with a cooldown, never on the probes' own errors.
/// </summary>
[Cmdlet(VerbsCommon.Watch, "RollbackTarget", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(WatchReport), typeof(RollbackResult))]
public sealed class WatchRollbackTargetCommand : TargetedCmdletBase
{
    /// <summary>The Prometheus server the queries go to, e.g. http://127.0.0.1:9090.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? PrometheusUri { get; set; }

    /// <summary>PromQL with what passing means at its end ('expr &lt; 0.05'), or @{ Query = '...'; Name = 'error ratio' }.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public object[] PrometheusQuery { get; set; } = Array.Empty<object>();

    /// <summary>Seconds between rounds of measurements.</summary>
    [Parameter]
    [ValidateRange(0.1, 86400)]
    public double IntervalSec { get; set; } = 10;

    /// <summary>Seconds to wait before the first measurement (warm-up after a deployment, and after the watcher's own rollback).</summary>
    [Parameter]
    [ValidateRange(0, 86400)]
    public double InitialDelaySec { get; set; }

    /// <summary>Watch this many seconds, then return (a bake window); 0 watches until stopped.</summary>
    [Parameter]
    [ValidateRange(0, 31536000)]
    public double DurationSec { get; set; }

    /// <summary>This many failed rounds in a row trigger the rollback.</summary>
    [Parameter]
    [ValidateRange(1, 1000)]
    public int FailureLimit { get; set; } = 3;

    /// <summary>The N of an M-of-N rule: the last N rounds are counted (with -FailuresInWindow).</summary>
    [Parameter]
    [ValidateRange(1, 1000)]
    public int Window { get; set; }

    /// <summary>The M of an M-of-N rule: this many failed rounds among the last -Window rounds trigger.</summary>
    [Parameter]
    [ValidateRange(1, 1000)]
    public int FailuresInWindow { get; set; }

    /// <summary>This many rounds in a row where a probe itself failed (Prometheus down, DNS) pause the watcher; never a rollback.</summary>
    [Parameter]
    [ValidateRange(1, 1000)]
    public int ConsecutiveErrorLimit { get; set; } = 4;

    /// <summary>A query that returns no value: Ignore (default), Fail, or Inconclusive (pause and ask for a person).</summary>
    [Parameter]
    [ValidateSet("Ignore", "Fail", "Inconclusive", IgnoreCase = true)]
    public string NoData { get; set; } = "Ignore";

    /// <summary>After an automatic rollback of the target, no other one for this many seconds.</summary>
    [Parameter]
    [ValidateRange(0, 604800)]
    public double CooldownSec { get; set; } = 300;

    /// <summary>Measure and record, never act.</summary>
    [Parameter]
    public SwitchParameter DryRun { get; set; }

    /// <summary>Evaluate one window (enough rounds to decide), act if it calls for it, and return: for scheduled runbooks.</summary>
    [Parameter]
    public SwitchParameter Once { get; set; }

    /// <summary>How many measurements of the target the journal keeps.</summary>
    [Parameter]
    [ValidateRange(10, 1000000)]
    public int KeepMeasurements { get; set; } = 500;

    /// <summary>The version to roll back to; the last verified-good version when not given.</summary>
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

    /// <summary>Tell people when a rollback starts and ends, and when the watcher needs a person.</summary>
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

    /// <summary>A service's plan (a rollback.psd1 path or a hashtable): watch the service and roll back its failing components.</summary>
    [Parameter]
    [ValidateNotNull]
    public object? Plan { get; set; }

    /// <summary>-Plan: parameters given at run time per component, e.g. @{ 'checkout-flag' = @{ ApiToken = $token } }.</summary>
    [Parameter]
    [ValidateNotNull]
    public Hashtable? ComponentParameter { get; set; }

    protected override bool TakesRollbackOptions => true;

    protected override void ProcessRecord()
    {
        UseNotifyTargets(NotifyUri);
        CheckPlanOnly(Plan is not null, nameof(ComponentParameter));
        WatchOptions options;
        try
        {
            options = new WatchOptions
            {
                Queries = PrometheusQuery.Select(ToQuery).ToList(),
                PrometheusUri = PrometheusUri is null ? null : WatchOptions.ParsePrometheusUri(PrometheusUri),
                Interval = TimeSpan.FromSeconds(IntervalSec),
                InitialDelay = TimeSpan.FromSeconds(InitialDelaySec),
                Duration = DurationSec > 0 ? TimeSpan.FromSeconds(DurationSec) : null,
                FailureLimit = FailureLimit,
                Window = Window,
                FailuresInWindow = FailuresInWindow,
                ConsecutiveErrorLimit = ConsecutiveErrorLimit,
                NoData = Enum.Parse<NoDataPolicy>(NoData, ignoreCase: true),
                Cooldown = TimeSpan.FromSeconds(CooldownSec),
                // -WhatIf measures and says what it would do, and records nothing.
                DryRun = DryRun || IsWhatIf,
                Record = !IsWhatIf,
                Once = Once,
                KeepMeasurements = KeepMeasurements,
            };
        }
        catch (RollbackException e)
        {
            ThrowTerminatingError(ToErrorRecord(e));
            return;
        }

        var restart = RestartScript is null ? null : ToScriptAction(RestartScript, "restart script");
        var escalation = new EscalationOptions { Window = TimeSpan.FromMinutes(EscalationWindowMinutes) };
        Func<EngineContext, AutomaticRollback> action;
        if (Plan is not null)
        {
            CheckPlanAlone(null);
            var plan = WithServiceChecks(ReadPlan(Plan, ComponentParameter));
            plan = restart is null ? plan : plan with { RestartScript = restart };
            // The service's checks are the measurements; a plan without them is watched through its components' checks.
            var checks = plan.Verification.Any ? plan.Verification : new VerificationOptions
            {
                HealthChecks = plan.Components.SelectMany(c => c.Request.Verification.HealthChecks).ToList(),
                SmokeTests = plan.Components.SelectMany(c => c.Request.Verification.SmokeTests).ToList(),
            };
            options = options with { Checks = checks };
            var runOptions = new PlanRunOptions
            {
                Snapshot = Target, WebhookUri = WebhookUri, LockTimeout = TimeSpan.FromSeconds(LockTimeoutSec), Escalation = escalation,
            };
            action = _ => AutomaticRollback.ForPlan(plan, runOptions);
        }
        else
        {
            var request = BuildRequest(r => r with
            {
                Target = Target, RestartScript = restart, WebhookUri = WebhookUri,
                LockTimeout = TimeSpan.FromSeconds(LockTimeoutSec), Escalation = escalation,
            })!;
            if (request.Deployment.IsSelection)
            {
                ThrowTerminatingError(ToErrorRecord(new RollbackException(ErrorIds.WatchSelectionNotSupported, RollbackErrorKind.InvalidArgument,
                    "A watcher watches one target or one plan, not a selection (-Selector or -All). Start one watcher per workload, or name them as components of a plan and watch the plan.")));
            }

            options = options with { Checks = request.Verification };
            action = context => AutomaticRollback.ForTarget(request, context);
        }

        try
        {
            options.Validate();
        }
        catch (RollbackException e)
        {
            ThrowTerminatingError(ToErrorRecord(e));
        }

        using var stop = new CancellationTokenSource();
        using var sigterm = OnSigterm(stop);
        var report = RunEngine(context => new Watcher(action(context), options, context, WriteObjectFromEngine).RunAsync(stop.Token));
        if (report.Paused)
        {
            WriteWarning($"The watch of {report.TargetKey} ended paused: {report.Decisions.LastOrDefault()?.Reason}");
        }

        WriteObject(report);
    }

    private static PrometheusQuery ToQuery(object value)
    {
        value = value is PSObject wrapped ? wrapped.BaseObject : value;
        if (value is IDictionary table)
        {
            var text = table["Query"]?.ToString();
            if (string.IsNullOrWhiteSpace(text))
            {
                throw new RollbackException(ErrorIds.WatchQueryInvalid, RollbackErrorKind.InvalidArgument,
                    "A -PrometheusQuery hashtable needs Query, e.g. @{ Query = 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[1m]))) < 0.3'; Name = 'p95 latency' }.");
            }

            return Engine.PrometheusQuery.Parse(text, table["Name"]?.ToString());
        }

        return Engine.PrometheusQuery.Parse(value.ToString() ?? "");
    }
}
