using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>
/// Phases 3 and 4: checkpoints the failed state, rolls back, restarts, verifies, records the attempt and signals the outcome.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "Rollback", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(RollbackResult))]
public sealed class InvokeRollbackCommand : TargetedCmdletBase
{
    /// <summary>An assessment (with its checkpoint, from New-RollbackCheckpoint -PassThru) to act on.</summary>
    [Parameter(ValueFromPipeline = true)]
    public RollbackAssessment? Assessment { get; set; }

    /// <summary>The version to roll back to (Git: a tag, branch or commit); the last verified-good version when not given.</summary>
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(GitTagCompleter))]
    public string? Target { get; set; }

    /// <summary>Runs after the change and before verification: a script block, or a script or executable path.</summary>
    [Parameter]
    [ValidateNotNull]
    public object? RestartScript { get; set; }

    /// <summary>Why the rollback is happening; goes into the signals and the incident report.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Reason { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateSet("Unknown", "DeploymentNeverCompleted", "HealthCheckFailed", "SmokeTestFailed", "UserReportedIssues", IgnoreCase = true)]
    public string? FailureType { get; set; }

    /// <summary>Name of the pre-rollback checkpoint; pre-rollback-&lt;unix seconds&gt; when not given.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CheckpointName { get; set; }

    /// <summary>A folder to write the checkpoint to instead of the state folder; a shared store keeps only its manifest.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CheckpointDirectory { get; set; }

    /// <summary>Also POST every signal of this rollback to this URL as a CloudEvent.</summary>
    [Parameter]
    [ValidateNotNull]
    public Uri? WebhookUri { get; set; }

    /// <summary>Tell people when the rollback starts and ends: Teams or Slack webhooks, any JSON webhook, or smtp:// (with ?to=).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? NotifyUri { get; set; }

    /// <summary>Seconds to wait for another rollback of the same target to finish.</summary>
    [Parameter]
    [ValidateRange(0, 86400)]
    public int LockTimeoutSec { get; set; } = 60;

    /// <summary>Failed attempts within this many minutes count toward escalation (the third one escalates).</summary>
    [Parameter]
    [ValidateRange(1, 10080)]
    public int EscalationWindowMinutes { get; set; } = 60;

    /// <summary>Proceeds despite uncommitted changes (stashed into the checkpoint first) or an earlier escalation.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>A service's plan (a rollback.psd1 path or a hashtable): roll back its components in order, as one incident.</summary>
    [Parameter]
    [ValidateNotNull]
    public object? Plan { get; set; }

    /// <summary>-Plan: only these components (by default, those that differ from the release snapshot and fail their checks).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] Component { get; set; } = Array.Empty<string>();

    /// <summary>-Plan: leave these components out; the reason (-SkipReason) is recorded.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] SkipComponent { get; set; } = Array.Empty<string>();

    /// <summary>-Plan: why the components of -SkipComponent are left out.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SkipReason { get; set; }

    /// <summary>-Plan: go on with the next components when one fails (by default the plan stops after the failed one's wave).</summary>
    [Parameter]
    public SwitchParameter ContinueOnError { get; set; }

    /// <summary>-Plan: parameters given at run time per component, e.g. @{ 'checkout-flag' = @{ ApiToken = $token } }; they win over the file's.</summary>
    [Parameter]
    [ValidateNotNull]
    public System.Collections.Hashtable? ComponentParameter { get; set; }

    protected override bool TakesRollbackOptions => true;

    protected override void CheckParameters(StrategyParameters strategy)
    {
        // An empty -Target would quietly mean "the last good version": a variable that came out empty must not pick the version.
        if ((Target is not null || Binding.Given(nameof(Target))) && string.IsNullOrWhiteSpace(Target))
        {
            throw new RollbackException(ErrorIds.TargetEmpty, RollbackErrorKind.InvalidArgument,
                "-Target is empty. Give the version to roll back to, or leave -Target out to use the last verified-good version.") { TargetName = nameof(Target) };
        }

        if (Binding.Given(nameof(Target)) && !strategy.TakesTargetVersion)
        {
            throw TargetBinding.ParameterNotForStrategy(nameof(Target), "the strategies that go back to a version", $"-Strategy {strategy.Strategy}, which has no versions to choose from");
        }
    }

    protected override void ProcessRecord()
    {
        UseNotifyTargets(NotifyUri);
        CheckPlanOnly(Plan is not null, nameof(Component), nameof(SkipComponent), nameof(SkipReason), nameof(ContinueOnError), nameof(ComponentParameter));
        if (Plan is not null)
        {
            InvokePlan(Plan);
            return;
        }

        var request = BuildRequest(r => r with
        {
            Target = Target,
            RestartScript = RestartScript is null ? null : ToScriptAction(RestartScript, "restart script"),
            Reason = Reason ?? Assessment?.FailureReason,
            FailureType = ParseEnum<FailureType>(FailureType),
            CheckpointName = CheckpointName,
            CheckpointDirectory = ResolvePath(CheckpointDirectory),
            ExistingCheckpoint = Assessment?.Checkpoint,
            WebhookUri = WebhookUri,
            LockTimeout = TimeSpan.FromSeconds(LockTimeoutSec),
            Escalation = new EscalationOptions { Window = TimeSpan.FromMinutes(EscalationWindowMinutes) },
            Force = Force,
        }, Assessment?.Deployment)!;
        if (request.Deployment.IsSelection)
        {
            InvokeSelected(request);
            return;
        }

        var result = RunEngine(context => RollbackEngine.InvokeAsync(request, context));
        if (result is null)
        {
            return;
        }

        WriteResult(result);
    }

    /// <summary>A whole service: one result with a line per component; a failed plan is a warning, as a failed rollback is.</summary>
    private void InvokePlan(object planFile)
    {
        CheckPlanAlone(Assessment?.Deployment, "All");
        var plan = WithServiceChecks(ReadPlan(planFile, ComponentParameter));
        if (RestartScript is not null)
        {
            plan = plan with { RestartScript = ToScriptAction(RestartScript, "restart script") };
        }

        var options = new PlanRunOptions
        {
            Snapshot = Target,
            Components = Component,
            Skip = SkipComponent.ToDictionary(c => c, _ => SkipReason ?? "left out with -SkipComponent (no -SkipReason given)", StringComparer.OrdinalIgnoreCase),
            All = Binding.Value("All") is SwitchParameter { IsPresent: true },
            ContinueOnError = ContinueOnError,
            Reason = Reason,
            FailureType = ParseEnum<FailureType>(FailureType),
            WebhookUri = WebhookUri,
            LockTimeout = TimeSpan.FromSeconds(LockTimeoutSec),
            Escalation = new EscalationOptions { Window = TimeSpan.FromMinutes(EscalationWindowMinutes) },
            Force = Force,
            CheckpointDirectory = ResolvePath(CheckpointDirectory),
            CheckpointName = CheckpointName,
        };
        var result = RunEngine(context => PlanEngine.InvokeAsync(plan, options, context));
        if (result is null)
        {
            return;
        }

        WriteResult(result);
    }

    /// <summary>One result per matching workload; a workload that cannot be rolled back is a non-terminating error and the others go on.</summary>
    private void InvokeSelected(RollbackRequest request)
    {
        var outcomes = RunEngine(context => RollbackEngine.InvokeSelectedAsync(request, context));
        foreach (var outcome in outcomes)
        {
            if (outcome.Error is { } error)
            {
                WriteError(ToErrorRecord(error));
            }
            else if (outcome.Result is { } result)
            {
                WriteResult(result);
            }
        }
    }

    /// <summary>A result on the pipeline; one that failed or escalated is a warning too, so an unattended log shows it.</summary>
    private void WriteResult(RollbackResult result)
    {
        if (result.Outcome is RollbackOutcome.Failed or RollbackOutcome.Escalated)
        {
            WriteWarning($"Rollback of {result.TargetKey} {result.Outcome}: {result.Message}");
        }

        WriteObject(result);
    }
}
