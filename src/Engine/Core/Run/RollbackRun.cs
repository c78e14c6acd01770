using System.Globalization;
using System.Text.Json;

namespace DeploymentRollback.Engine;

/// <summary>
/// One rollback attempt, walked through its phases in order: gate (escalation), plan, consent, checkpoint, steps,
/// restart, verify, complete (keep or undo), finish (outcome, escalation, signals, journal). The strategy's session
/// does the target's own work; everything else is decided here, the same for every strategy.
/// </summary>
internal sealed class RollbackRun
{
    private const string CheckpointStepAction = EscalationPolicy.CheckpointStep;

    private readonly RollbackRequest request;
    private readonly EngineContext context;
    private readonly IRollbackSession session;
    private readonly string targetKey;
    private readonly RollbackPlan? planned;
    private IReadOnlyList<RollbackResult> earlierFailures = Array.Empty<RollbackResult>();
    private RollbackPlan plan = new();
    private RollbackResult result = new();
    private RollbackCheckpoint? reusedCheckpoint;
    private RollbackCheckpoint? checkpoint;
    // The state folder's own error, when a step stopped on it (a read-only or full folder while checkpointing).
    private RollbackException? stateFault;
    private DateTimeOffset changedAt;
    private string? checkpointName;
    private string activity = "";
    private int stepsDone;
    private int stepsTotal;
    private bool succeeded;

    // Set once the session is asked to keep or undo: it is never asked twice (an error while keeping must not undo a verified rollback).
    private bool completing;

    /// <summary>planned: the session's plan when a caller (a service plan's preflight) already made it with this session.</summary>
    public RollbackRun(RollbackRequest request, EngineContext context, IRollbackSession session, RollbackPlan? planned = null)
    {
        this.request = request;
        this.context = context;
        this.session = session;
        this.planned = planned;
        targetKey = session.Target.Key;
    }

    private bool NoChange => plan.SkipReason is not null;

    /// <summary>Returns null when consent was not given for every step (-WhatIf, or a "no" at -Confirm): then nothing changed.</summary>
    public async Task<RollbackResult?> RunAsync()
    {
        CheckEscalation();
        await PlanAsync().ConfigureAwait(false);
        if (!await AskConsentAsync().ConfigureAwait(false))
        {
            return null;
        }

        completing = NoChange;
        if (NoChange)
        {
            context.Observer.Verbose($"Nothing to roll back: {plan.SkipReason}");
        }

        if (!SwitchAtOnce)
        {
            Start();
        }

        try
        {
            if (SwitchAtOnce)
            {
                await CheckpointAndSwitchAsync().ConfigureAwait(false);
            }
            else
            {
                checkpoint = await CheckpointAsync().ConfigureAwait(false);
                if (checkpoint is not null)
                {
                    await ExecuteStepsAsync(checkpoint).ConfigureAwait(false);
                }
            }

            await RestartAsync().ConfigureAwait(false);
            await VerifyAsync().ConfigureAwait(false);
            await CompareLogsAsync().ConfigureAwait(false);
            await CompleteAsync().ConfigureAwait(false);
            Conclude();
        }
        catch (OperationCanceledException) when (context.Cancellation.IsCancellationRequested)
        {
            result.Outcome = RollbackOutcome.Failed;
            result.Message = "Cancelled by the user before the rollback finished; see the steps for what ran.";
            if (!completing)
            {
                await UndoAsync().ConfigureAwait(false);
            }

            await FinishAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        catch (Exception e)
        {
            // Whatever went wrong, the attempt is recorded and signalled as failed rather than left 'Running',
            // and the session puts back what its steps replaced.
            context.Observer.Progress(new ProgressUpdate(activity, "Failed", Completed: true));
            result.Outcome = RollbackOutcome.Failed;
            result.Message = $"The rollback stopped on an unexpected error: {SecretRedactor.Redact(e.Message)}";
            if (!completing)
            {
                await UndoAsync().ConfigureAwait(false);
            }
        }

        await FinishAsync(context.Cancellation).ConfigureAwait(false);
        if (stateFault is not null && EscalationPolicy.StoppedOnStateFolder(result))
        {
            // Recorded as Failed (not counted toward escalation), and reported as what it is: the state folder's fault.
            throw stateFault;
        }

        return result;
    }

    private void CheckEscalation() =>
        earlierFailures = EscalationPolicy.Gate(context.State.Journal, targetKey, request.Escalation, request.Force, "roll back", context.Observer);

    private async Task PlanAsync()
    {
        plan = planned ?? await session.PlanAsync().ConfigureAwait(false);
        foreach (var blocker in planned is null ? plan.Blockers : Array.Empty<string>())
        {
            // A plan's preflight stops on these; one target's rollback goes on, as it always has, but says so.
            context.Observer.Warning(blocker);
        }

        reusedCheckpoint = request.ExistingCheckpoint is { } existing && existing.TargetKey == targetKey ? existing : null;
        checkpointName = reusedCheckpoint is null ? new CheckpointStore(context.State, request.CheckpointDirectory).NewName(request.CheckpointName) : null;
        result = new RollbackResult
        {
            AttemptId = Guid.NewGuid().ToString("N")[..12],
            Strategy = request.Strategy,
            TargetKey = targetKey,
            Path = plan.Path,
            StateDirectory = context.State.Directory,
            FromVersion = plan.FromVersion,
            ToVersion = plan.ToVersion,
            Initiator = request.Initiator,
            AttemptNumber = earlierFailures.Count + 1,
            StartedAt = DateTimeOffset.UtcNow,
            Changes = plan.Changes.Select(SecretRedactor.Redact).ToList(),
            Deployment = request.Deployment.WithoutSecrets(SecretRedactor.Redact),
        };
        if (!SwitchAtOnce)
        {
            ResolveFailure();
        }

        activity = $"Rolling back {targetKey} to {plan.ToVersion}";
        stepsTotal = plan.Steps.Count + (NoChange ? 1 : 2) + (request.RestartScript is null ? 0 : 1);
    }

    /// <summary>A switch made at once (<see cref="ISwitchesAtOnce"/>) is made before anything is journaled.</summary>
    private bool SwitchAtOnce => session is ISwitchesAtOnce && !NoChange;

    /// <summary>What failed and when, from the request, the latest assessment and the input signals: for the journal and the signals.</summary>
    private void ResolveFailure()
    {
        var failure = FailureContext.Resolve(context.State, targetKey, request.FailureType, request.Reason);
        result.Reason = failure.Reason is null ? null : SecretRedactor.Redact(failure.Reason);
        result.FailureType = failure.Type;
        result.FailureDetectedAt = failure.DetectedAt;
    }

    /// <summary>Every step is put to the host before anything changes, so -WhatIf lists the whole plan and a "no" to any step changes nothing.</summary>
    private async Task<bool> AskConsentAsync()
    {
        // Nothing to change is not the same as fine: the restart and the verification still run, and an unhealthy
        // target makes the attempt Failed. No checkpoint is needed, since the strategy changes nothing.
        var steps = new List<string>();
        if (NoChange)
        {
            steps.Add($"Nothing to roll back ({plan.SkipReason}); record a Skipped attempt" + (request.Verification.Any ? " (Failed if the checks fail)" : ""));
        }
        else
        {
            if (reusedCheckpoint is null)
            {
                steps.Add($"Create checkpoint of the failed state {plan.FromVersion} in {context.State.Describe(context.State.CheckpointsDirectory)}");
            }

            steps.AddRange(plan.Steps.Where(s => s.Mutates).Select(s => s.Description));
        }

        if (request.RestartScript is not null)
        {
            steps.Add($"Run the restart script {request.RestartScript.Name}");
        }

        return await context.Observer.ShouldProcessAllAsync(targetKey, steps).ConfigureAwait(false);
    }

    private void Start()
    {
        context.State.Journal.StartAttempt(result);
        InterruptedAttempts.Claim(context.State.Journal, result);
    }

    private async Task<RollbackCheckpoint?> CheckpointAsync()
    {
        if (NoChange)
        {
            return null;
        }

        await EmitStartedAsync(context).ConfigureAwait(false);
        context.Observer.Progress(new ProgressUpdate(activity, "Creating checkpoint", 0));
        InterruptedAttempts.RecordStepStart(context.State.Journal, result, CheckpointStepAction);
        return await CreateCheckpointAsync().ConfigureAwait(false);
    }

    /// <summary>The checkpoint step; journal false leaves the checkpoint's journal record to the caller.</summary>
    private async Task<RollbackCheckpoint?> CreateCheckpointAsync(bool journal = true)
    {
        var created = reusedCheckpoint ?? await RunStepAsync(CheckpointStepAction, async () =>
        {
            var created = await new CheckpointStore(context.State, request.CheckpointDirectory).CreateAsync(checkpointName!, request.Strategy, targetKey, plan.Path, session.CaptureCheckpointAsync, request.Deployment, journal).ConfigureAwait(false);
            return (created, $"Checkpoint '{created.Name}' at {created.Folder}");
        }).ConfigureAwait(false);
        result.CheckpointName = created?.Name;
        stepsDone++;
        return created;
    }

    private Task EmitStartedAsync(EngineContext on) =>
        RollbackEngine.EmitAsync(SignalNames.RollbackStarted, result, request.WebhookUri, on, ("from_version", result.FromVersion), ("rolled_back_to", result.ToVersion));

    /// <summary>
    /// A switch made at once (<see cref="ISwitchesAtOnce"/>): the checkpoint, then the first step straight away, then what
    /// otherwise comes before them, in the same order (what failed and when, the attempt and its owner, ROLLBACK_STARTED,
    /// the step starts, the checkpoint's journal record), also when the step failed or was cancelled; then any further
    /// steps as usual.
    /// </summary>
    private async Task CheckpointAndSwitchAsync()
    {
        context.Observer.Progress(new ProgressUpdate(activity, "Creating checkpoint", 0));
        PlanStep? switched = null;
        StepResult? first = null;
        try
        {
            checkpoint = await CreateCheckpointAsync(journal: false).ConfigureAwait(false);
            if (checkpoint is not null && plan.Steps.Count > 0)
            {
                changedAt = DateTimeOffset.UtcNow;
                switched = plan.Steps[0];
                context.Observer.Progress(new ProgressUpdate(activity, switched.Description, 100 * stepsDone++ / stepsTotal));
                first = await ExecuteStepAsync(switched, checkpoint).ConfigureAwait(false);
                context.Observer.Verbose($"{first.Name}: {first.Status}. {first.Message}");
            }
        }
        finally
        {
            var records = context.With(cancellation: CancellationToken.None);
            ResolveFailure();
            Start();
            await EmitStartedAsync(records).ConfigureAwait(false);
            InterruptedAttempts.RecordStepStart(context.State.Journal, result, CheckpointStepAction);
            if (checkpoint is not null && checkpoint != reusedCheckpoint)
            {
                new CheckpointStore(context.State, request.CheckpointDirectory).RecordCreated(checkpoint);
            }

            if (switched is not null)
            {
                InterruptedAttempts.RecordStepStart(context.State.Journal, result, switched.Action, plan.ToIdentity);
            }
        }

        if (checkpoint is not null && first is { Status: not StepStatus.Failed })
        {
            await ExecuteStepsAsync(checkpoint, from: 1).ConfigureAwait(false);
        }
    }

    /// <summary>The plan's steps in order from the given one, stopping at the first that fails; the engine numbers and times each.</summary>
    private async Task ExecuteStepsAsync(RollbackCheckpoint checkpoint, int from = 0)
    {
        if (from == 0)
        {
            changedAt = DateTimeOffset.UtcNow;
        }

        foreach (var step in plan.Steps.Skip(from))
        {
            context.Cancellation.ThrowIfCancellationRequested();
            context.Observer.Progress(new ProgressUpdate(activity, step.Description, 100 * stepsDone++ / stepsTotal));
            InterruptedAttempts.RecordStepStart(context.State.Journal, result, step.Action, plan.ToIdentity);
            var stepResult = await ExecuteStepAsync(step, checkpoint).ConfigureAwait(false);
            context.Observer.Verbose($"{stepResult.Name}: {stepResult.Status}. {stepResult.Message}");
            if (stepResult.Status == StepStatus.Failed)
            {
                break;
            }
        }
    }

    /// <summary>Runs one session step and adds its result to the attempt, a cancelled one included.</summary>
    private async Task<StepResult> ExecuteStepAsync(PlanStep step, RollbackCheckpoint checkpoint)
    {
        var started = DateTimeOffset.UtcNow;
        var name = $"{step.Action} {step.Target}";
        StepResult stepResult;
        try
        {
            stepResult = await session.ExecuteStepAsync(step, plan, checkpoint).ConfigureAwait(false);
        }
        catch (Exception e) when (context.Cancellation.IsCancellationRequested)
        {
            result.Steps.Add(new StepResult { Name = name, Status = StepStatus.Cancelled, StartedAt = started, Duration = DateTimeOffset.UtcNow - started, Message = RollbackEngine.CancelledStepMessage });
            throw e as OperationCanceledException ?? new OperationCanceledException(RollbackEngine.CancelledStepMessage, e, context.Cancellation);
        }
        catch (Exception e)
        {
            stepResult = new StepResult { Name = name, Status = StepStatus.Failed, Message = SecretRedactor.Redact(e.Message), ErrorId = (e as RollbackException)?.ErrorId };
        }

        stepResult.Name = stepResult.Name.Length == 0 ? name : stepResult.Name;
        stepResult.StartedAt = started;
        stepResult.Duration = DateTimeOffset.UtcNow - started;
        result.Steps.Add(stepResult);
        return stepResult;
    }

    private async Task RestartAsync()
    {
        if (request.RestartScript is not { } restart || result.Steps.Any(s => s.Status == StepStatus.Failed))
        {
            return;
        }

        context.Observer.Progress(new ProgressUpdate(activity, $"Restarting ({restart.Name})", 100 * stepsDone++ / stepsTotal));
        InterruptedAttempts.RecordStepStart(context.State.Journal, result, "Restart");
        await RunStepAsync($"Restart {restart.Name}", async () =>
        {
            var outcome = await restart.Run(context.Cancellation).ConfigureAwait(false);
            if (!outcome.Succeeded)
            {
                throw new RollbackException(ErrorIds.RestartScriptFailed, RollbackErrorKind.InvalidOperation,
                    $"The restart script {restart.Name} failed (exit code {outcome.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "none"}): {RollbackEngine.Tail(outcome.Output, 5)}");
            }

            return (true, outcome.Output.Trim().Length == 0 ? "Done." : RollbackEngine.Tail(outcome.Output, 20));
        }).ConfigureAwait(false);
    }

    private async Task VerifyAsync()
    {
        if (!request.Verification.Any || result.Steps.Any(s => s.Status == StepStatus.Failed))
        {
            return;
        }

        context.Observer.Progress(new ProgressUpdate(activity, "Verifying", 100 * stepsDone / stepsTotal));
        InterruptedAttempts.RecordStepStart(context.State.Journal, result, "Verify");
        var health = await HealthVerifier.VerifyAsync(request.Verification.HealthChecks, request.Verification.SmokeTests, context.Observer, context.Cancellation).ConfigureAwait(false);
        var current = await session.GetCurrentVersionAsync().ConfigureAwait(false);
        RollbackEngine.FillHealthTarget(health, request.Strategy, targetKey, plan.Path, context.State, current.Version);
        health.AttemptId = result.AttemptId;
        result.Health = health;
        result.Verification = health.Healthy ? VerificationOutcome.Passed : VerificationOutcome.Failed;
        await RollbackEngine.RecordHealthAsync(context, session, health, current.Identity, recordVerified: health.Healthy).ConfigureAwait(false);
    }

    /// <summary>
    /// Before the session keeps or undoes the change, while the target runs what the rollback put there: the error lines
    /// in its logs since the first change against those in the checkpoint's logs, journaled for the checklist. Only a
    /// session that reads logs is asked, only when every step succeeded; what it finds never changes the outcome.
    /// </summary>
    private async Task CompareLogsAsync()
    {
        if (session is not IReadsLogs reader || checkpoint is null || NoChange || result.Steps.Any(s => s.Status == StepStatus.Failed))
        {
            return;
        }

        context.Observer.Progress(new ProgressUpdate(activity, "Reading logs", 100 * stepsDone / stepsTotal));
        var comparison = await LogEvidence.CompareAsync(reader, checkpoint, changedAt, context.Cancellation).ConfigureAwait(false);
        context.State.Journal.AddEvent(new JournalEvent(targetKey, result.AttemptId, DateTimeOffset.UtcNow, JournalEventKinds.LogsCompared, JsonSerializer.Serialize(comparison, Journal.JsonOptions)));
        var said = $"Error lines in the logs: {comparison.Describe()}.";
        if (comparison.Verdict == LogVerdict.Spike)
        {
            context.Observer.Warning(said + (comparison.Examples.Count > 0 ? " For example: " + comparison.Examples[0] : ""));
        }
        else
        {
            context.Observer.Verbose(said);
        }
    }

    /// <summary>The session keeps a verified change, or puts back what its steps replaced; what it reports does not change the verdict.</summary>
    private async Task CompleteAsync()
    {
        succeeded = result.Steps.All(s => s.Status != StepStatus.Failed) && result.Verification != VerificationOutcome.Failed;
        if (NoChange)
        {
            return;
        }

        completing = true;
        if (await session.CompleteAsync(plan, succeeded).ConfigureAwait(false) is { } completion)
        {
            result.Steps.Add(completion);
        }
    }

    private void Conclude()
    {
        context.Observer.Progress(new ProgressUpdate(activity, "Done", Completed: true));
        result.Outcome = !succeeded ? RollbackOutcome.Failed : NoChange ? RollbackOutcome.Skipped : RollbackOutcome.Succeeded;
        result.Message = result.Outcome switch
        {
            RollbackOutcome.Succeeded => $"Rolled back from {result.FromVersion} to {result.ToVersion}" +
                (result.Verification == VerificationOutcome.Passed ? "; verified healthy." : "; not verified (no -HealthCheckUri or -SmokeTest given)."),
            RollbackOutcome.Skipped => plan.SkipReason + (result.Verification == VerificationOutcome.Passed ? " Verified healthy." : ""),
            _ => result.Steps.FirstOrDefault(s => s.Status == StepStatus.Failed)?.Message ??
                (NoChange ? $"Nothing to roll back ({plan.SkipReason}), but the target is unhealthy: " : "The rollback completed but verification failed: ") + RollbackEngine.DescribeUnhealthy(result.Health),
        };
    }

    /// <summary>Asks the session to put back what its steps replaced, after an error or a cancellation.</summary>
    private async Task UndoAsync()
    {
        completing = true;
        try
        {
            if (await session.CompleteAsync(plan, verified: false).ConfigureAwait(false) is { } undo)
            {
                result.Steps.Add(undo);
            }
        }
        catch (Exception undoError) when (undoError is not OperationCanceledException)
        {
            result.Message += $" Putting back the previous state also failed: {SecretRedactor.Redact(undoError.Message)}";
        }
    }

    /// <summary>The outcome with the escalation rule applied, the time to recovery, the closing signals, and the journal entry.</summary>
    private async Task FinishAsync(CancellationToken cancellation)
    {
        var escalation = Close(result, earlierFailures.Count, request.Escalation);

        var quiet = context.With(cancellation: cancellation);
        if (result.Outcome == RollbackOutcome.Succeeded)
        {
            await RollbackEngine.EmitAsync(SignalNames.RollbackComplete, result, request.WebhookUri, quiet, ("rolled_back_to", result.ToVersion), ("from_version", result.FromVersion),
                ("verified", result.Verification == VerificationOutcome.Passed),
                ("time_to_recovery_seconds", result.TimeToRecovery is { } recovery ? Math.Round(recovery.TotalSeconds, 1) : null)).ConfigureAwait(false);
        }
        else if (result.Outcome != RollbackOutcome.Skipped)
        {
            await RollbackEngine.EmitAsync(SignalNames.RollbackFailed, result, request.WebhookUri, quiet, ("error", result.Message), ("rolled_back_to", null)).ConfigureAwait(false);
            if (escalation is not null)
            {
                await EscalationPolicy.SignalAsync(result, escalation, request.WebhookUri, quiet).ConfigureAwait(false);
            }
        }

        context.State.Journal.CompleteAttempt(result);
    }

    /// <summary>
    /// Ends an attempt (one target's or a plan's): its times, the escalation rule applied (returns why it escalates, or
    /// null), and the time to recovery.
    /// </summary>
    internal static string? Close(RollbackResult attempt, int earlierFailures, EscalationOptions escalation)
    {
        attempt.CompletedAt = DateTimeOffset.UtcNow;
        attempt.Duration = attempt.CompletedAt - attempt.StartedAt;
        var why = EscalationPolicy.Decide(attempt, earlierFailures, escalation);

        // Recovery is only known when the checks say so: an unverified rollback has no time to recovery.
        if (attempt.Outcome == RollbackOutcome.Succeeded && attempt.Verification == VerificationOutcome.Passed)
        {
            attempt.TimeToRecovery = attempt.CompletedAt - (attempt.FailureDetectedAt ?? attempt.StartedAt);
        }

        return why;
    }

    /// <summary>An engine step (checkpoint, restart): timed, redacted, and Failed or Cancelled rather than thrown.</summary>
    private async Task<T?> RunStepAsync<T>(string name, Func<Task<(T Value, string Message)>> action)
    {
        var step = new StepResult { Name = name, StartedAt = DateTimeOffset.UtcNow };
        result.Steps.Add(step);
        try
        {
            var (value, message) = await action().ConfigureAwait(false);
            step.Status = StepStatus.Succeeded;
            step.Message = SecretRedactor.Redact(message);
            return value;
        }
        catch (Exception e) when (context.Cancellation.IsCancellationRequested)
        {
            // Whatever the step reports once the user cancelled (a stopped script fails), it was cancelled.
            step.Status = StepStatus.Cancelled;
            step.Message = RollbackEngine.CancelledStepMessage;
            throw e as OperationCanceledException ?? new OperationCanceledException(RollbackEngine.CancelledStepMessage, e, context.Cancellation);
        }
        catch (Exception e)
        {
            // Also a timeout inside the step: only the user's cancellation stops the attempt.
            step.Status = StepStatus.Failed;
            step.Message = SecretRedactor.Redact(e.Message);
            step.ErrorId = (e as RollbackException)?.ErrorId;
            if (e is RollbackException known && StateFaults.IsStateFaultId(known.ErrorId))
            {
                stateFault ??= known;
            }

            return default;
        }
        finally
        {
            step.Duration = DateTimeOffset.UtcNow - step.StartedAt;
        }
    }
}
