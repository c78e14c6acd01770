using System.Globalization;

namespace DeploymentRollback.Engine;

/// <summary>
/// One rollback of a service plan, after its preflight passed and consent was given: the plan's own attempt journaled,
/// the selected components taken back wave by wave (each its own attempt, the components of a wave in parallel),
/// stop at a failed wave unless told to go on, the service restarted and verified, and every component's version read back.
/// </summary>
internal sealed class PlanRun
{
    private readonly ServicePlan plan;
    private readonly PlanRunOptions options;
    private readonly EngineContext context;
    private readonly ReleaseSnapshot? snapshot;
    private readonly PlanAssessment assessment;
    private readonly IReadOnlyList<PlanEngine.ComponentState> states;
    private readonly IReadOnlyList<PlanEngine.ComponentState> selected;
    private readonly IReadOnlyList<RollbackResult> earlierFailures;
    private readonly Dictionary<string, ComponentOutcome> outcomes = new(StringComparer.OrdinalIgnoreCase);
    private RollbackResult result = new();
    // The plan's earlier attempt that died after it began to change components (recorded Interrupted by this run).
    private readonly RollbackResult? interrupted;

    /// <summary>Nothing is left to roll back, but an interrupted attempt may have left the service not restarted or verified.</summary>
    private bool FinishesInterrupted => selected.Count == 0 && interrupted is not null;

    public PlanRun(ServicePlan plan, PlanRunOptions options, EngineContext context, ReleaseSnapshot? snapshot, PlanAssessment assessment,
        IReadOnlyList<PlanEngine.ComponentState> states, IReadOnlyList<PlanEngine.ComponentState> selected, IReadOnlyList<RollbackResult> earlierFailures,
        RollbackResult? interrupted = null)
    {
        this.interrupted = interrupted;
        this.plan = plan;
        this.options = options;
        this.context = context;
        this.snapshot = snapshot;
        this.assessment = assessment;
        this.states = states;
        this.selected = selected;
        this.earlierFailures = earlierFailures;
    }

    private string Activity => $"Rolling back {plan.Service}";

    public async Task<RollbackResult> RunAsync()
    {
        Start();
        try
        {
            if (selected.Count > 0 || FinishesInterrupted)
            {
                await RollbackEngine.EmitAsync(SignalNames.RollbackStarted, result, options.WebhookUri, context, Data()).ConfigureAwait(false);
                await RunWavesAsync().ConfigureAwait(false);
                await RestartAndVerifyAsync().ConfigureAwait(false);
            }

            await ReadBackAsync(context.Cancellation).ConfigureAwait(false);
            Conclude();
        }
        catch (OperationCanceledException) when (context.Cancellation.IsCancellationRequested)
        {
            result.Outcome = RollbackOutcome.Failed;
            result.Message = "Cancelled by the user before the plan finished; see the components for what ran.";
            await ReadBackAsync(CancellationToken.None).ConfigureAwait(false);
            await FinishAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        catch (Exception e)
        {
            result.Outcome = RollbackOutcome.Failed;
            result.Message = $"The plan stopped on an unexpected error: {SecretRedactor.Redact(e.Message)}";
        }

        await FinishAsync(context.Cancellation).ConfigureAwait(false);
        return result;
    }

    private void Start()
    {
        var failure = FailureContext.Resolve(context.State, plan.TargetKey, options.FailureType, options.Reason);
        foreach (var state in states)
        {
            var found = state.Assessment;
            outcomes[found.Name] = new ComponentOutcome
            {
                Name = found.Name, Strategy = found.Strategy, TargetKey = found.TargetKey, Wave = found.Wave,
                FromVersion = found.CurrentVersion, Action = found.Selected ? "NotRun" : found.SelectionReason.StartsWith("left out", StringComparison.Ordinal) ? "Skipped" : "Unchanged",
                Reason = found.SelectionReason,
            };
        }

        result = new RollbackResult
        {
            AttemptId = Guid.NewGuid().ToString("N")[..12],
            Strategy = PlanEngine.PlanStrategy,
            TargetKey = plan.TargetKey,
            Path = plan.Path ?? "",
            StateDirectory = context.State.Directory,
            FromVersion = selected.Count == 0 ? null : string.Join(", ", selected.Select(s => $"{s.Assessment.Name} {s.Assessment.FromVersion}")),
            ToVersion = snapshot is null ? "each component's last verified-good version" : snapshot.Label is null ? snapshot.ReleaseId : $"{snapshot.Label} ({snapshot.ReleaseId})",
            Reason = failure.Reason is null ? null : SecretRedactor.Redact(failure.Reason),
            Initiator = options.Initiator,
            FailureType = failure.Type,
            FailureDetectedAt = failure.DetectedAt,
            AttemptNumber = earlierFailures.Count + 1,
            StartedAt = DateTimeOffset.UtcNow,
            Changes = selected.Select(s => $"{s.Assessment.Name}: {s.Assessment.FromVersion} -> {s.Assessment.ToVersion}").ToList(),
        };
        context.State.Journal.StartAttempt(result);
        InterruptedAttempts.Claim(context.State.Journal, result);
    }

    private async Task RunWavesAsync()
    {
        // Consent was given for every component's steps at once; each component's own run must not ask again.
        // People are told of the plan's start and end, with every component in it, not of each component apart.
        var quiet = context.With(observer: new ConsentGiven(context.Observer), notify: Array.Empty<NotifyTarget>());
        var waves = selected.GroupBy(s => s.Assessment.Wave).OrderBy(g => g.Key).ToList();
        var done = 0;
        var stopped = false;
        foreach (var wave in waves)
        {
            if (stopped)
            {
                foreach (var state in wave)
                {
                    outcomes[state.Component.Name].Reason = "not run: an earlier component failed (pass -ContinueOnError to go on after a failure)";
                }

                continue;
            }

            context.Observer.Progress(new ProgressUpdate(Activity, $"Wave {wave.Key.ToString(CultureInfo.InvariantCulture)}: {string.Join(", ", wave.Select(s => s.Component.Name))}", 100 * done / selected.Count));
            InterruptedAttempts.RecordStepStart(context.State.Journal, result, $"Wave {wave.Key.ToString(CultureInfo.InvariantCulture)}");
            await PlanEngine.ForEachAsync(wave, options.Parallelism, state => RunComponentAsync(state, quiet), context.Cancellation).ConfigureAwait(false);
            done += wave.Count();
            stopped = !options.ContinueOnError && wave.Any(s => outcomes[s.Component.Name].Action == "Failed");
        }

        context.Observer.Progress(new ProgressUpdate(Activity, "Done", Completed: true));

        // The plan's checkpoint is its components' checkpoints together.
        var checkpoints = selected.Select(s => outcomes[s.Component.Name]).Where(o => o.CheckpointName is not null).Select(o => $"{o.Name}: {o.CheckpointName}").ToList();
        result.CheckpointName = checkpoints.Count == 0 ? null : string.Join(", ", checkpoints);
    }

    private async Task RunComponentAsync(PlanEngine.ComponentState state, EngineContext quiet)
    {
        var outcome = outcomes[state.Component.Name];
        var step = new StepResult { Name = $"{state.Component.Name} ({state.Request.Strategy})", StartedAt = DateTimeOffset.UtcNow };
        outcome.StartedAt = step.StartedAt;
        try
        {
            var run = await new RollbackRun(state.Request, quiet, state.Session, state.Plan).RunAsync().ConfigureAwait(false);
            if (run is not null)
            {
                outcome.Outcome = run.Outcome;
                outcome.AttemptId = run.AttemptId;
                outcome.FromVersion = run.FromVersion;
                // A version pinned by what identifies it (a commit, an image id) is shown with the name it was recorded under.
                outcome.ToVersion = state.Recorded is { Identity: { } pinned, Version: { } named } && run.ToVersion == pinned && named != pinned ? $"{named} ({pinned[..Math.Min(12, pinned.Length)]})" : run.ToVersion;
                outcome.Message = run.Message;
                outcome.CheckpointName = run.CheckpointName;
                outcome.Action = run.Outcome is RollbackOutcome.Succeeded or RollbackOutcome.Skipped ? "RolledBack" : "Failed";
                step.Status = outcome.Action == "Failed" ? StepStatus.Failed : run.Outcome == RollbackOutcome.Skipped ? StepStatus.Skipped : StepStatus.Succeeded;
                step.ErrorId = run.Steps.FirstOrDefault(s => s.Status == StepStatus.Failed)?.ErrorId;
                step.Escalate = run.Outcome == RollbackOutcome.Escalated;
                step.Message = $"{run.Outcome}: {run.Message}";
            }
        }
        catch (RollbackException e)
        {
            // E.g. the component itself is escalated: it did not start, and the plan says so.
            outcome.Action = "Failed";
            outcome.Message = e.Message;
            (step.Status, step.ErrorId, step.Message) = (StepStatus.Failed, e.ErrorId, e.Message);
        }
        finally
        {
            step.Duration = DateTimeOffset.UtcNow - step.StartedAt;
            outcome.Duration = step.Duration;
            lock (result)
            {
                result.Steps.Add(step);
            }
        }
    }

    private async Task RestartAndVerifyAsync()
    {
        if (outcomes.Values.Any(o => o.Action is "Failed" or "NotRun" && selected.Any(s => s.Component.Name == o.Name)))
        {
            return;
        }

        if (plan.RestartScript is { } restart)
        {
            context.Observer.Progress(new ProgressUpdate(Activity, $"Restarting ({restart.Name})"));
            InterruptedAttempts.RecordStepStart(context.State.Journal, result, "Restart");
            var step = new StepResult { Name = $"Restart {restart.Name}", StartedAt = DateTimeOffset.UtcNow };
            var outcome = await restart.Run(context.Cancellation).ConfigureAwait(false);
            step.Duration = DateTimeOffset.UtcNow - step.StartedAt;
            step.Status = outcome.Succeeded ? StepStatus.Succeeded : StepStatus.Failed;
            step.ErrorId = outcome.Succeeded ? null : ErrorIds.RestartScriptFailed;
            step.Message = SecretRedactor.Redact(outcome.Succeeded ? "Done." : $"The restart script failed (exit code {outcome.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "none"}): {RollbackEngine.Tail(outcome.Output, 5)}");
            result.Steps.Add(step);
            if (!outcome.Succeeded)
            {
                return;
            }
        }

        if (!plan.Verification.Any)
        {
            return;
        }

        context.Observer.Progress(new ProgressUpdate(Activity, "Verifying the service"));
        InterruptedAttempts.RecordStepStart(context.State.Journal, result, "Verify");
        var health = await PlanEngine.CheckServiceAsync(plan, context).ConfigureAwait(false);
        RollbackEngine.FillHealthTarget(health, PlanEngine.PlanStrategy, plan.TargetKey, plan.Path ?? "", context.State, result.ToVersion);
        health.AttemptId = result.AttemptId;
        result.Health = health;
        result.Verification = health.Healthy ? VerificationOutcome.Passed : VerificationOutcome.Failed;
        RollbackEngine.JournalHealth(context.State, health);
    }

    /// <summary>Every component's version read after the run, so the result leaves nothing undescribed.</summary>
    private async Task ReadBackAsync(CancellationToken cancellation)
    {
        // A component that went back is where its attempt put it (its step read that back); every other one is read now.
        var readContext = context.With(cancellation: cancellation);
        var unknown = states.Where(s => outcomes[s.Component.Name] is not { Action: "RolledBack", Outcome: RollbackOutcome.Succeeded or RollbackOutcome.Skipped }).ToList();
        var now = await PlanEngine.ReadVersionsAsync(unknown, readContext).ConfigureAwait(false);
        foreach (var state in states)
        {
            var outcome = outcomes[state.Component.Name];
            outcome.VersionNow = now.TryGetValue(state.Component.Name, out var read) ? read.Version : Reached(state);
        }

        result.Components = states.Select(s => outcomes[s.Component.Name]).OrderBy(o => o.Wave).ThenBy(o => o.Name, StringComparer.OrdinalIgnoreCase).ToList();
    }

    /// <summary>The version a component that went back is at, named as its snapshot named it when it went to the snapshot's version.</summary>
    private static string? Reached(PlanEngine.ComponentState state)
    {
        var to = state.Plan?.ToVersion;
        return state.Recorded is { } recorded && to is not null && (to == recorded.Version || to == recorded.Identity || state.Plan?.ToIdentity == recorded.Identity && recorded.Identity is not null)
            ? recorded.Version
            : to;
    }

    private void Conclude()
    {
        var failed = result.Components.Where(c => c.Action == "Failed").ToList();
        var unhealthy = result.Verification == VerificationOutcome.Failed || result.Steps.Any(s => s.Status == StepStatus.Failed);
        result.Outcome = failed.Count > 0 || unhealthy ? RollbackOutcome.Failed
            : FinishesInterrupted ? RollbackOutcome.Succeeded
            : selected.Count == 0 && assessment.Health is { Healthy: false } ? RollbackOutcome.Failed
            : selected.Count == 0 || selected.All(s => outcomes[s.Component.Name].Outcome == RollbackOutcome.Skipped) ? RollbackOutcome.Skipped
            : RollbackOutcome.Succeeded;
        var where = string.Join("; ", result.Components.Select(c => $"{c.Name} at {c.VersionNow ?? "unknown"}"));
        result.Message = result.Outcome switch
        {
            RollbackOutcome.Succeeded when FinishesInterrupted => $"Finished attempt {interrupted!.AttemptId}, which was interrupted ({interrupted.Steps[^1].Name}): every component was already back" +
                (plan.RestartScript is null ? "" : ", the service was restarted") +
                (result.Verification == VerificationOutcome.Passed ? " and is verified healthy." : "; the service is not verified (the plan has no service checks).") + $" Now: {where}.",
            RollbackOutcome.Succeeded => $"Rolled back {string.Join(", ", selected.Select(s => s.Component.Name))} of {plan.Service} to {result.ToVersion}" +
                (result.Verification == VerificationOutcome.Passed ? "; the service is verified healthy." : "; the service is not verified (the plan has no service checks).") + $" Now: {where}.",
            RollbackOutcome.Skipped when selected.Count == 0 => $"Nothing to roll back: no component of {plan.Service} both differs from the release snapshot and fails its checks. Now: {where}.",
            RollbackOutcome.Skipped => $"Every selected component was already where the release snapshot has it. Now: {where}.",
            _ when failed.Count > 0 => $"{string.Join(", ", failed.Select(f => f.Name))} failed: {failed[0].Message} Now: {where}.",
            _ when selected.Count == 0 => $"No component differs from the release snapshot and fails its checks, yet the service fails its checks ({RollbackEngine.DescribeUnhealthy(assessment.Health)}): roll forward, or name components with -Component. Now: {where}.",
            _ => $"The components went back, but the service {(result.Health is null ? "could not be restarted" : "fails its checks: " + RollbackEngine.DescribeUnhealthy(result.Health))}. Now: {where}.",
        };
    }

    private async Task FinishAsync(CancellationToken cancellation)
    {
        var escalation = RollbackRun.Close(result, earlierFailures.Count, options.Escalation);

        var quiet = context.With(cancellation: cancellation);
        if (result.Outcome == RollbackOutcome.Succeeded)
        {
            await RollbackEngine.EmitAsync(SignalNames.RollbackComplete, result, options.WebhookUri, quiet, Data()
                .Append(("verified", (object?)(result.Verification == VerificationOutcome.Passed)))
                .Append(("time_to_recovery_seconds", result.TimeToRecovery is { } recovery ? Math.Round(recovery.TotalSeconds, 1) : null)).ToArray()).ConfigureAwait(false);
        }
        else if (result.Outcome != RollbackOutcome.Skipped)
        {
            await RollbackEngine.EmitAsync(SignalNames.RollbackFailed, result, options.WebhookUri, quiet, Data().Append(("error", (object?)result.Message)).ToArray()).ConfigureAwait(false);
            if (escalation is not null)
            {
                await EscalationPolicy.SignalAsync(result, escalation, options.WebhookUri, quiet).ConfigureAwait(false);
            }
        }

        context.State.Journal.CompleteAttempt(result);
    }

    /// <summary>The plan's signal data: the service, the release, and every component with its versions.</summary>
    private (string Key, object? Value)[] Data() => new (string, object?)[]
    {
        ("service", plan.Service),
        ("release", snapshot?.ReleaseId),
        ("rolled_back_to", result.ToVersion),
        ("components", (result.Components.Count > 0 ? result.Components : outcomes.Values.OrderBy(o => o.Wave).ToList())
            .Select(c => new Dictionary<string, object?> { ["name"] = c.Name, ["strategy"] = c.Strategy, ["action"] = c.Action, ["from"] = c.FromVersion, ["to"] = c.ToVersion, ["now"] = c.VersionNow }).ToList()),
    };

    /// <summary>Passes everything through but answers yes: the plan asked for every step before it started.</summary>
    private sealed class ConsentGiven(IRollbackObserver inner) : IRollbackObserver
    {
        public void Progress(ProgressUpdate update) => inner.Progress(update);
        public void Verbose(string message) => inner.Verbose(message);
        public void Warning(string message) => inner.Warning(message);
        public Task<bool> ShouldProcessAsync(string target, string action) => Task.FromResult(true);
    }
}
