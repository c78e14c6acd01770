using System.Management.Automation;
using System.Net;
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
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(GitTagCompleter))]
    public string? Target { get; set; }

    /// <summary>Git: Checkout puts the working tree at the target; Revert adds revert commits and keeps history.</summary>
    [Parameter]
    [ValidateSet("Checkout", "Revert", IgnoreCase = true)]
    public string Mode { get; set; } = "Checkout";

    /// <summary>Git -Mode Revert: revert only these commits instead of every commit after the target.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] Commit { get; set; } = Array.Empty<string>();

    /// <summary>Git -Mode Revert: push the branch to its remote afterwards.</summary>
    [Parameter]
    public SwitchParameter Push { get; set; }

    /// <summary>Credentials for Git -Push, or basic authentication for a FeatureFlag Http endpoint; never logged or written.</summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

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

    /// <summary>Also POST every signal of this rollback to this URL as a CloudEvent.</summary>
    [Parameter]
    [ValidateNotNull]
    public Uri? WebhookUri { get; set; }

    /// <summary>Seconds to wait for another rollback of the same target to finish.</summary>
    [Parameter]
    [ValidateRange(0, 86400)]
    public int LockTimeoutSec { get; set; } = 60;

    /// <summary>Failed attempts within this many minutes count toward escalation (the third one escalates).</summary>
    [Parameter]
    [ValidateRange(1, 10080)]
    public int EscalationWindowMinutes { get; set; } = 60;

    /// <summary>Container, DockerCompose: seconds to wait for the rolled-back containers to be running and healthy.</summary>
    [Parameter]
    [ValidateRange(1, 86400)]
    public int TimeoutSec { get; set; } = 300;

    /// <summary>Container: keep the failed container (stopped, renamed) after a verified rollback.</summary>
    [Parameter]
    public SwitchParameter KeepFailed { get; set; }

    /// <summary>DockerCompose: the previous compose file to go back to (the spec's docker-compose.previous.yml); relative to -Path.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? PreviousFile { get; set; }

    /// <summary>FeatureFlag: turn the flag back to the state recorded before it was switched off.</summary>
    [Parameter]
    public SwitchParameter Restore { get; set; }

    /// <summary>Kubernetes: roll back every workload of -Kind matching this label selector, in parallel (the failing ones unless -All).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Selector { get; set; }

    /// <summary>Kubernetes -Selector: roll back every matching workload, not only the failing ones.</summary>
    [Parameter]
    public SwitchParameter All { get; set; }

    /// <summary>Proceeds despite uncommitted changes (stashed into the checkpoint first) or an earlier escalation.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override IReadOnlyDictionary<string, string[]> OwnStrategyParameters { get; } = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase)
    {
        [nameof(Target)] = new[] { StrategyNames.Git, StrategyNames.Container, StrategyNames.Database, StrategyNames.Kubernetes, StrategyNames.Release },
        [nameof(Mode)] = new[] { StrategyNames.Git },
        [nameof(Commit)] = new[] { StrategyNames.Git },
        [nameof(Push)] = new[] { StrategyNames.Git },
        [nameof(Credential)] = new[] { StrategyNames.Git, StrategyNames.FeatureFlag },
        [nameof(TimeoutSec)] = new[] { StrategyNames.Container, StrategyNames.DockerCompose, StrategyNames.Kubernetes },
        [nameof(KeepFailed)] = new[] { StrategyNames.Container },
        [nameof(PreviousFile)] = new[] { StrategyNames.DockerCompose },
        [nameof(Restore)] = new[] { StrategyNames.FeatureFlag },
        [nameof(Selector)] = new[] { StrategyNames.Kubernetes },
        [nameof(All)] = new[] { StrategyNames.Kubernetes },
    };

    protected override void CheckParameters(string strategy)
    {
        // An empty -Target would quietly mean "the last good version": a variable that came out empty must not pick the version.
        if ((Target is not null || GivenOnCommandLine(nameof(Target))) && string.IsNullOrWhiteSpace(Target))
        {
            throw new RollbackException(ErrorIds.TargetEmpty, RollbackErrorKind.InvalidArgument,
                "-Target is empty. Give the version to roll back to, or leave -Target out to use the last verified-good version.") { TargetName = nameof(Target) };
        }

        if (!"Revert".Equals(Mode, StringComparison.OrdinalIgnoreCase))
        {
            foreach (var revertOnly in new[] { nameof(Commit), nameof(Push) }.Where(GivenOnCommandLine))
            {
                throw ParameterNotForStrategy(revertOnly, "-Strategy Git -Mode Revert", $"-Mode {Mode}");
            }
        }
    }

    private string? BasicAuthorization(string strategy) => Credential is null || !strategy.Equals(StrategyNames.FeatureFlag, StringComparison.OrdinalIgnoreCase) || !"Http".Equals((GetDynamicParameters() as FeatureFlagParameters)?.Provider, StringComparison.OrdinalIgnoreCase)
        ? null
        : "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{Credential.UserName}:{new NetworkCredential("", Credential.Password).Password}"));

    protected override void ProcessRecord()
    {
        var request = BuildRequest(r => r with
        {
            Target = Target,
            GitMode = ParseEnum<GitRollbackMode>(Mode) ?? GitRollbackMode.Checkout,
            Commits = Commit,
            Push = Push,
            UserName = Credential?.UserName,
            Password = Credential is null ? null : new NetworkCredential("", Credential.Password).Password,
            RestartScript = RestartScript is null ? null : ToScriptAction(RestartScript, "restart script"),
            Reason = Reason ?? Assessment?.FailureReason,
            FailureType = ParseEnum<FailureType>(FailureType),
            CheckpointName = CheckpointName,
            ExistingCheckpoint = Assessment?.Checkpoint,
            WebhookUri = WebhookUri,
            LockTimeout = TimeSpan.FromSeconds(LockTimeoutSec),
            EscalationWindow = TimeSpan.FromMinutes(EscalationWindowMinutes),
            Force = Force,
            Timeout = TimeSpan.FromSeconds(TimeoutSec),
            KeepFailed = KeepFailed,
            PreviousFile = PreviousFile,
            Restore = Restore,
            ApiToken = r.ApiToken ?? BasicAuthorization(r.Strategy),
            Selector = Selector,
            All = All,
        }, Assessment?.TargetSpec);
        if (Selector is not null)
        {
            InvokeSelected(request);
            return;
        }

        var result = RunEngine(context => RollbackEngine.InvokeAsync(request, context));
        if (result is null)
        {
            return;
        }

        if (result.Outcome is RollbackOutcome.Failed or RollbackOutcome.Escalated)
        {
            WriteWarning($"Rollback of {result.TargetKey} {result.Outcome}: {result.Message}");
        }

        WriteObject(result);
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
                if (result.Outcome is RollbackOutcome.Failed or RollbackOutcome.Escalated)
                {
                    WriteWarning($"Rollback of {result.TargetKey} {result.Outcome}: {result.Message}");
                }

                WriteObject(result);
            }
        }
    }
}
