using System.Collections;
using System.Management.Automation;
using System.Security;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>
/// Serves an HTTP endpoint for alerts (Alertmanager, Grafana, Azure Monitor, CloudEvents): records them as signals and
/// rolls the configured target or plan back once per firing alert group.
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "RollbackSignalListener", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ListenerReport), typeof(RollbackResult))]
public sealed class StartRollbackSignalListenerCommand : TargetedCmdletBase
{
    /// <summary>Where to listen, e.g. http://127.0.0.1:9099/alerts/ (ending with a slash).</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string[] Prefix { get; set; } = Array.Empty<string>();

    /// <summary>Requests must carry 'Authorization: Bearer &lt;token&gt;'.</summary>
    [Parameter]
    [ValidateNotNull]
    public SecureString? BearerToken { get; set; }

    /// <summary>Requests must carry an HMAC-SHA256 signature of the body made with this secret.</summary>
    [Parameter]
    [ValidateNotNull]
    public SecureString? HmacSecret { get; set; }

    /// <summary>The header with the signature; X-Hub-Signature-256 (sha256=&lt;hex&gt;) or X-Signature when not given.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SignatureHeader { get; set; }

    /// <summary>Larger bodies are refused with 413.</summary>
    [Parameter]
    [ValidateRange(1024, 8388608)]
    public int MaxBodyBytes { get; set; } = 1048576;

    /// <summary>Every alert is about this target (a target key such as plan:checkout).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? TargetKey { get; set; }

    /// <summary>Label selectors to target keys, e.g. @{ 'service=checkout' = 'plan:checkout' }.</summary>
    [Parameter]
    [ValidateNotNull]
    public Hashtable? Map { get; set; }

    /// <summary>Record every alert as this signal instead of the one the alert implies.</summary>
    [Parameter]
    [ValidateSet("DEPLOYMENT_FAILED", "HEALTH_CHECK_FAILED", IgnoreCase = false)]
    public string? SignalName { get; set; }

    /// <summary>After an automatic rollback of the target, no other one for this many seconds.</summary>
    [Parameter]
    [ValidateRange(0, 604800)]
    public double CooldownSec { get; set; } = 300;

    /// <summary>Listen this many seconds, then return; 0 listens until stopped.</summary>
    [Parameter]
    [ValidateRange(0, 31536000)]
    public double DurationSec { get; set; }

    /// <summary>Record the alerts and what would be done; never roll back.</summary>
    [Parameter]
    public SwitchParameter DryRun { get; set; }

    /// <summary>The version (or, with -Plan, the release) to roll back to; the last verified-good one when not given.</summary>
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

    [Parameter]
    [ValidateRange(0, 86400)]
    public int LockTimeoutSec { get; set; } = 60;

    [Parameter]
    [ValidateRange(1, 10080)]
    public int EscalationWindowMinutes { get; set; } = 60;

    /// <summary>A service's plan to roll back when its alerts fire.</summary>
    [Parameter]
    [ValidateNotNull]
    public object? Plan { get; set; }

    /// <summary>-Plan: parameters given at run time per component.</summary>
    [Parameter]
    [ValidateNotNull]
    public Hashtable? ComponentParameter { get; set; }

    protected override bool TakesRollbackOptions => true;

    /// <summary>Without -Strategy or -Plan the listener only records alerts as signals.</summary>
    protected override bool NamesTarget(DeploymentTarget? piped) => Strategy is not null || Binding.AnyGiven;

    protected override void ProcessRecord()
    {
        UseNotifyTargets(NotifyUri);
        CheckPlanOnly(Plan is not null, nameof(ComponentParameter));
        var restart = RestartScript is null ? null : ToScriptAction(RestartScript, "restart script");
        var escalation = new EscalationOptions { Window = TimeSpan.FromMinutes(EscalationWindowMinutes) };
        Func<EngineContext, AutomaticRollback?> action = _ => null;
        if (Plan is not null)
        {
            CheckPlanAlone(null);
            var plan = WithServiceChecks(ReadPlan(Plan, ComponentParameter));
            plan = restart is null ? plan : plan with { RestartScript = restart };
            var runOptions = new PlanRunOptions { Snapshot = Target, WebhookUri = WebhookUri, LockTimeout = TimeSpan.FromSeconds(LockTimeoutSec), Escalation = escalation };
            action = _ => AutomaticRollback.ForPlan(plan, runOptions);
        }
        else if (BuildRequest(r => r with { Target = Target, RestartScript = restart, WebhookUri = WebhookUri, LockTimeout = TimeSpan.FromSeconds(LockTimeoutSec), Escalation = escalation }) is { } request)
        {
            if (request.Deployment.IsSelection)
            {
                ThrowTerminatingError(ToErrorRecord(new RollbackException(ErrorIds.WatchSelectionNotSupported, RollbackErrorKind.InvalidArgument,
                    "A listener rolls back one target or one plan, not a selection (-Selector or -All). Name the workloads as components of a plan and give -Plan.")));
            }

            action = context => AutomaticRollback.ForTarget(request, context);
        }

        using var stop = new CancellationTokenSource();
        using var sigterm = OnSigterm(stop);
        var report = RunEngine(context =>
        {
            var automatic = action(context);
            var selectors = Map?.Cast<DictionaryEntry>().Select(e => new KeyValuePair<string, string>(e.Key.ToString()!, e.Value?.ToString() ?? "")).ToList();
            var options = new ListenerOptions
            {
                Prefixes = Prefix,
                BearerToken = BearerToken is null ? null : new System.Net.NetworkCredential("", BearerToken).Password,
                HmacSecret = HmacSecret is null ? null : System.Text.Encoding.UTF8.GetBytes(new System.Net.NetworkCredential("", HmacSecret).Password),
                SignatureHeader = SignatureHeader,
                MaxBodyBytes = MaxBodyBytes,
                // With no mapping given, every alert is about the configured target.
                Map = new AlertTargetMap(TargetKey ?? (selectors is null ? automatic?.TargetKey : null), selectors),
                SignalName = SignalName,
                Cooldown = TimeSpan.FromSeconds(CooldownSec),
                Duration = DurationSec > 0 ? TimeSpan.FromSeconds(DurationSec) : null,
                DryRun = DryRun || IsWhatIf,
            };
            return new SignalListener(options, automatic, context, WriteObjectFromEngine).RunAsync(stop.Token);
        });
        WriteObject(report);
    }
}
