using System.Globalization;
using System.Text.Json;

namespace DeploymentRollback.Engine;

/// <summary>The four phases, shared by every strategy: assess, checkpoint, execute and verify, signal.</summary>
public static class RollbackEngine
{
    private const string CheckpointStepAction = "Checkpoint";
    private const string HealthCheckErrorPrefix = "Health check ";
    private const string CancelledStepMessage = "Cancelled by the user before the step finished; it may have been partly done.";

    public static async Task<RollbackAssessment> AssessAsync(RollbackRequest request, EngineContext context)
    {
        var strategy = StrategyRegistry.Get(request.Strategy);
        var target = strategy.ResolveTarget(request);
        var targetKey = target.Key;
        context.Observer.Progress(new ProgressUpdate("Assessing", targetKey));
        var found = await strategy.AssessAsync(request, context).ConfigureAwait(false);

        HealthReport? health = null;
        if (request.HealthChecks.Count + request.SmokeTests.Count > 0)
        {
            health = await HealthVerifier.VerifyAsync(request.HealthChecks, request.SmokeTests, context.Observer, context.Cancellation).ConfigureAwait(false);
            FillHealthTarget(health, strategy.Name, targetKey, target.Location, context.State, found.CurrentVersion);
        }

        var failure = FailureContext.Resolve(context.State, targetKey, request.FailureType, request.Reason);
        var type = failure.Type != FailureType.Unknown ? failure.Type : found.FailureType;
        var errors = new List<string>(failure.Errors);
        errors.AddRange(found.Errors);
        // The health checks' own messages (now or from an earlier assessment) describe the service, not its dependencies.
        var evidence = errors.Where(e => !e.StartsWith(HealthCheckErrorPrefix, StringComparison.Ordinal)).Append(failure.Reason ?? "").ToList();
        var logs = new List<string>(found.LogExcerpts);
        if (health is not null)
        {
            foreach (var check in health.Checks.Where(c => !c.Passed))
            {
                errors.Add($"{HealthCheckErrorPrefix}{check.Uri}: {check.Message}");
            }

            foreach (var smoke in health.SmokeTests.Where(s => !s.Passed))
            {
                errors.Add($"Smoke test {smoke.Name} failed (exit code {smoke.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "none"})");
                logs.Add(Tail(smoke.Output, 20));
            }

            if (request.FailureType is null or FailureType.Unknown)
            {
                type = !health.HealthChecksPassed ? FailureType.HealthCheckFailed : !health.SmokeTestsPassed ? FailureType.SmokeTestFailed : type;
            }
        }

        var reason = failure.Reason ?? (errors.Count > 0 ? errors[0] : null);
        var transient = type != FailureType.DeploymentNeverCompleted && Retry.QuickRetry.LooksTransient(evidence, health);
        var rationale = health is { Healthy: true } && failure.InputSignal is null && request.FailureType is null
            ? "The health checks and smoke tests pass now, so a rollback may not be needed. " + found.Rationale
            : found.Rationale;
        var assessment = new RollbackAssessment
        {
            Strategy = strategy.Name,
            TargetKey = targetKey,
            Path = target.Location,
            StateDirectory = context.State.Directory,
            AssessedAt = DateTimeOffset.UtcNow,
            FailureType = type,
            FailureReason = reason is null ? null : SecretRedactor.Redact(reason),
            CurrentVersion = found.CurrentVersion,
            CurrentCommit = found.CurrentCommit,
            LastGoodVersion = found.LastGoodVersion,
            LastGoodSource = found.LastGoodSource,
            Errors = errors.Select(SecretRedactor.Redact).Distinct().ToList(),
            LogExcerpts = logs.Select(SecretRedactor.Redact).ToList(),
            AffectedComponents = found.AffectedComponents,
            Changes = found.Changes,
            RecommendedStrategy = transient ? Retry.QuickRetry.StrategyName : found.LastGoodVersion is null ? "Manual" : strategy.Name,
            Rationale = transient
                ? "The failure looks transient (a dependency's refused or timed-out connection, or a health check that passed only on a retry) and the deployment itself completed: retry it with Invoke-DeploymentRetry before rolling back. If it fails again: " + rationale
                : rationale,
            Health = health,
            HasUncommittedChanges = found.HasUncommittedChanges,
            Facts = found.Facts,
            TargetSpec = SpecOf(strategy, request),
        };

        var summary = new AssessmentSummary(assessment.FailureType, assessment.FailureReason, assessment.CurrentVersion, assessment.LastGoodVersion, assessment.Errors);
        context.State.Journal.AddEvent(new JournalEvent(targetKey, null, assessment.AssessedAt, JournalEventKinds.Assessed, JsonSerializer.Serialize(summary, Journal.JsonOptions)));
        context.Observer.Progress(new ProgressUpdate("Assessing", "Done", Completed: true));
        return assessment;
    }

    public static async Task<RollbackCheckpoint?> CreateCheckpointAsync(RollbackRequest request, EngineContext context)
    {
        var strategy = StrategyRegistry.Get(request.Strategy);
        var target = strategy.ResolveTarget(request);
        var targetKey = target.Key;
        var store = new CheckpointStore(context.State);
        var name = store.NewName(request.CheckpointName);
        if (!await context.Observer.ShouldProcessAsync(targetKey, $"Create checkpoint '{name}' of the current state in {context.State.Describe(context.State.CheckpointsDirectory)}").ConfigureAwait(false))
        {
            return null;
        }

        return await store.CreateAsync(name, strategy.Name, targetKey, target.Location, writer => strategy.CaptureCheckpointAsync(request, writer, context)).ConfigureAwait(false);
    }

    /// <summary>Returns null when consent was not given for every step (-WhatIf, or a "no" at -Confirm): then nothing changed.</summary>
    public static async Task<RollbackResult?> InvokeAsync(RollbackRequest request, EngineContext context)
    {
        var strategy = StrategyRegistry.Get(request.Strategy);
        var target = strategy.ResolveTarget(request);
        var targetKey = target.Key;
        var journal = context.State.Journal;
        using var targetLock = await TargetLock.AcquireAsync(context.State, targetKey, request.LockTimeout, context.Observer, context.Cancellation).ConfigureAwait(false);
        await InterruptedAttempts.RecoverAsync(targetKey, request, context).ConfigureAwait(false);

        var now = DateTimeOffset.UtcNow;
        var failures = EscalationPolicy.FailuresInWindow(journal, targetKey, request.EscalationWindow, now);
        var escalated = failures.FirstOrDefault(f => f.Outcome == RollbackOutcome.Escalated);
        if (escalated is not null && !request.Force)
        {
            throw new RollbackException(ErrorIds.RollbackEscalated, RollbackErrorKind.InvalidOperation,
                $"The rollback of {targetKey} was escalated at {escalated.CompletedAt:u} after {failures.Count} failed attempt(s), and MANUAL_INTERVENTION_REQUIRED was signalled. " +
                "Investigate by hand (Get-RollbackHistory, the checkpoints, the incident report); pass -Force to try again anyway.")
            { TargetName = targetKey };
        }

        EscalationPolicy.ReportLapse(journal, targetKey, request.EscalationWindow, now, context.Observer);
        var plan = await strategy.PlanAsync(request, context).ConfigureAwait(false);
        var reuseCheckpoint = request.ExistingCheckpoint is { } existing && existing.TargetKey == targetKey ? existing : null;
        var checkpointName = reuseCheckpoint is null ? new CheckpointStore(context.State).NewName(request.CheckpointName) : null;
        var failure = FailureContext.Resolve(context.State, targetKey, request.FailureType, request.Reason);
        var result = new RollbackResult
        {
            AttemptId = Guid.NewGuid().ToString("N")[..12],
            Strategy = strategy.Name,
            TargetKey = targetKey,
            Path = plan.Path,
            StateDirectory = context.State.Directory,
            FromVersion = plan.FromVersion,
            ToVersion = plan.ToVersion,
            Reason = failure.Reason is null ? null : SecretRedactor.Redact(failure.Reason),
            FailureType = failure.Type,
            FailureDetectedAt = failure.DetectedAt,
            AttemptNumber = failures.Count + 1,
            StartedAt = now,
            Changes = plan.Changes.ToList(),
            TargetSpec = SpecOf(strategy, request),
        };

        // Nothing to change is not the same as fine: the restart and the verification still run, and an unhealthy
        // target makes the attempt Failed. No checkpoint is needed, since the strategy changes nothing.
        var noChange = plan.SkipReason is not null;
        var verify = request.HealthChecks.Count + request.SmokeTests.Count > 0;
        var consentSteps = new List<string>();
        if (noChange)
        {
            consentSteps.Add($"Nothing to roll back ({plan.SkipReason}); record a Skipped attempt" + (verify ? " (Failed if the checks fail)" : ""));
        }
        else
        {
            if (reuseCheckpoint is null)
            {
                consentSteps.Add($"Create checkpoint of the failed state {plan.FromVersion} in {context.State.Describe(context.State.CheckpointsDirectory)}");
            }

            consentSteps.AddRange(plan.Steps.Where(s => s.Mutates).Select(s => s.Description));
        }

        if (request.RestartScript is not null)
        {
            consentSteps.Add($"Run the restart script {request.RestartScript.Name}");
        }

        // Every step is put to the host before anything changes, so -WhatIf lists the whole plan and a "no" to any step changes nothing.
        var consented = true;
        foreach (var step in consentSteps)
        {
            consented &= await context.Observer.ShouldProcessAsync(targetKey, step).ConfigureAwait(false);
        }

        if (!consented)
        {
            return null;
        }

        journal.StartAttempt(result);
        InterruptedAttempts.Claim(journal, result);
        if (noChange)
        {
            context.Observer.Verbose($"Nothing to roll back: {plan.SkipReason}");
        }

        var activity = $"Rolling back {targetKey} to {plan.ToVersion}";
        // Set once the strategy is asked to keep or undo: it is never asked twice (an error while keeping must not undo a verified rollback).
        var completing = noChange;
        try
        {
            var totalSteps = plan.Steps.Count + (noChange ? 1 : 2) + (request.RestartScript is null ? 0 : 1);
            var done = 0;
            RollbackCheckpoint? checkpoint = null;
            if (!noChange)
            {
                await EmitAsync(SignalNames.RollbackStarted, result, request, context, ("from_version", result.FromVersion), ("rolled_back_to", result.ToVersion)).ConfigureAwait(false);
                context.Observer.Progress(new ProgressUpdate(activity, "Creating checkpoint", 0));
                InterruptedAttempts.RecordStepStart(journal, result, CheckpointStepAction);
                checkpoint = reuseCheckpoint ?? await RunStepAsync(result, CheckpointStepAction, context.Cancellation, async () =>
                {
                    var created = await new CheckpointStore(context.State).CreateAsync(checkpointName!, strategy.Name, targetKey, plan.Path,
                        writer => strategy.CaptureCheckpointAsync(request, writer, context)).ConfigureAwait(false);
                    return (created, $"Checkpoint '{created.Name}' at {created.Folder}");
                }).ConfigureAwait(false);
                result.CheckpointName = checkpoint?.Name;
                done++;
            }

            if (checkpoint is not null)
            {
                foreach (var step in plan.Steps)
                {
                    context.Cancellation.ThrowIfCancellationRequested();
                    context.Observer.Progress(new ProgressUpdate(activity, step.Description, 100 * done++ / totalSteps));
                    InterruptedAttempts.RecordStepStart(journal, result, step.Action, plan.ToCommit);
                    var stepResult = await strategy.ExecuteStepGuardedAsync(step, plan, request, checkpoint, context, result).ConfigureAwait(false);
                    context.Observer.Verbose($"{stepResult.Name}: {stepResult.Status}. {stepResult.Message}");
                    if (stepResult.Status == StepStatus.Failed)
                    {
                        break;
                    }
                }
            }

            if (request.RestartScript is { } restart && result.Steps.All(s => s.Status != StepStatus.Failed))
            {
                context.Observer.Progress(new ProgressUpdate(activity, $"Restarting ({restart.Name})", 100 * done++ / totalSteps));
                InterruptedAttempts.RecordStepStart(journal, result, "Restart");
                await RunStepAsync(result, $"Restart {restart.Name}", context.Cancellation, async () =>
                {
                    var outcome = await restart.Run(context.Cancellation).ConfigureAwait(false);
                    if (!outcome.Succeeded)
                    {
                        throw new RollbackException(ErrorIds.RestartScriptFailed, RollbackErrorKind.InvalidOperation,
                            $"The restart script {restart.Name} failed (exit code {outcome.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "none"}): {Tail(outcome.Output, 5)}");
                    }

                    return (true, outcome.Output.Trim().Length == 0 ? "Done." : Tail(outcome.Output, 20));
                }).ConfigureAwait(false);
            }

            var stepsSucceeded = result.Steps.All(s => s.Status != StepStatus.Failed);
            if (stepsSucceeded && verify)
            {
                context.Observer.Progress(new ProgressUpdate(activity, "Verifying", 100 * done / totalSteps));
                InterruptedAttempts.RecordStepStart(journal, result, "Verify");
                var health = await HealthVerifier.VerifyAsync(request.HealthChecks, request.SmokeTests, context.Observer, context.Cancellation).ConfigureAwait(false);
                var (version, commit) = await strategy.GetCurrentVersionAsync(request, context).ConfigureAwait(false);
                FillHealthTarget(health, strategy.Name, targetKey, plan.Path, context.State, version);
                health.AttemptId = result.AttemptId;
                result.Health = health;
                result.Verification = health.Healthy ? VerificationOutcome.Passed : VerificationOutcome.Failed;
                await RecordHealthAsync(context, strategy, request, health, commit, recordVerified: health.Healthy).ConfigureAwait(false);
            }

            var succeeded = stepsSucceeded && result.Verification != VerificationOutcome.Failed;
            if (!noChange)
            {
                completing = true;
                var completion = await strategy.CompleteAsync(plan, request, succeeded, context).ConfigureAwait(false);
                if (completion is not null)
                {
                    result.Steps.Add(completion);
                }
            }

            context.Observer.Progress(new ProgressUpdate(activity, "Done", Completed: true));
            result.Outcome = !succeeded ? RollbackOutcome.Failed : noChange ? RollbackOutcome.Skipped : RollbackOutcome.Succeeded;
            result.Message = result.Outcome switch
            {
                RollbackOutcome.Succeeded => $"Rolled back from {result.FromVersion} to {result.ToVersion}" +
                    (result.Verification == VerificationOutcome.Passed ? "; verified healthy." : "; not verified (no -HealthCheckUri or -SmokeTest given)."),
                RollbackOutcome.Skipped => plan.SkipReason + (result.Verification == VerificationOutcome.Passed ? " Verified healthy." : ""),
                _ => result.Steps.FirstOrDefault(s => s.Status == StepStatus.Failed)?.Message ??
                    (noChange ? $"Nothing to roll back ({plan.SkipReason}), but the target is unhealthy: " : "The rollback completed but verification failed: ") + DescribeUnhealthy(result.Health),
            };
        }
        catch (OperationCanceledException) when (context.Cancellation.IsCancellationRequested)
        {
            result.Outcome = RollbackOutcome.Failed;
            result.Message = "Cancelled by the user before the rollback finished; see the steps for what ran.";
            if (!completing)
            {
                await UndoAsync(strategy, plan, request, result, new EngineContext(context.State, context.Observer, CancellationToken.None)).ConfigureAwait(false);
            }

            await FinishAsync(result, failures.Count, request, context, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        catch (Exception e)
        {
            // Whatever went wrong, the attempt is recorded and signalled as failed rather than left 'Running',
            // and the strategy puts back what its steps replaced.
            context.Observer.Progress(new ProgressUpdate(activity, "Failed", Completed: true));
            result.Outcome = RollbackOutcome.Failed;
            result.Message = $"The rollback stopped on an unexpected error: {SecretRedactor.Redact(e.Message)}";
            if (!completing)
            {
                await UndoAsync(strategy, plan, request, result, context).ConfigureAwait(false);
            }
        }

        await FinishAsync(result, failures.Count, request, context, context.Cancellation).ConfigureAwait(false);
        return result;
    }

    /// <summary>
    /// A selection (-Selector): every target it names rolled back in parallel, each as its own attempt (own lock,
    /// checkpoint, journal entry and signals). Healthy ones are reported Skipped unless -All.
    /// </summary>
    public static async Task<IReadOnlyList<SelectedOutcome>> InvokeSelectedAsync(RollbackRequest request, EngineContext context)
    {
        if (StrategyRegistry.Get(request.Strategy) is not ISelectsTargets selecting)
        {
            throw new RollbackException(ErrorIds.ParameterNotForStrategy, RollbackErrorKind.InvalidArgument,
                $"-Selector names many targets at once, which the {request.Strategy} strategy cannot; leave it out and name one target.");
        }

        var candidates = await selecting.SelectAsync(request, context).ConfigureAwait(false);

        var outcomes = new SelectedOutcome[candidates.Count];
        using var gate = new SemaphoreSlim(Math.Min(16, candidates.Count));
        var chosen = Math.Max(1, candidates.Count(c => c.Failing || request.All));
        var done = 0;
        await Task.WhenAll(candidates.Select(async (candidate, index) =>
        {
            var name = candidate.Request.Name!;
            if (!candidate.Failing && !request.All)
            {
                outcomes[index] = new SelectedOutcome(name, SkippedHealthy(candidate.Request, candidate.State), null);
                return;
            }

            await gate.WaitAsync(context.Cancellation).ConfigureAwait(false);
            try
            {
                outcomes[index] = new SelectedOutcome(name, await InvokeAsync(candidate.Request, context).ConfigureAwait(false), null);
            }
            catch (RollbackException e)
            {
                outcomes[index] = new SelectedOutcome(name, null, e);
            }
            finally
            {
                gate.Release();
                var finished = Interlocked.Increment(ref done);
                context.Observer.Progress(new ProgressUpdate($"Rolling back workloads matching {request.Selector}", $"{finished} of {chosen} done", 100 * finished / chosen));
            }
        })).ConfigureAwait(false);
        context.Observer.Progress(new ProgressUpdate($"Rolling back workloads matching {request.Selector}", "Done", Completed: true));
        return outcomes;
    }

    private static RollbackResult SkippedHealthy(RollbackRequest request, string state)
    {
        var strategy = StrategyRegistry.Get(request.Strategy);
        var target = strategy.ResolveTarget(request);
        var now = DateTimeOffset.UtcNow;
        return new RollbackResult
        {
            AttemptId = "",
            Strategy = strategy.Name,
            TargetKey = target.Key,
            Path = target.Location,
            Outcome = RollbackOutcome.Skipped,
            Message = $"Not failing ({state}), so not rolled back; pass -All to roll back every matching workload.",
            StartedAt = now,
            CompletedAt = now,
            TargetSpec = SpecOf(strategy, request),
        };
    }

    /// <summary>
    /// Runs health checks and smoke tests. With a target, the verdict is journaled (after consent): as the verification
    /// of attemptId when given, and the version recorded verified-good when healthy and asked (or verifying a successful attempt).
    /// </summary>
    public static async Task<HealthReport> TestHealthAsync(RollbackRequest request, string? attemptId, bool recordVerified, bool signalOnFailure, EngineContext context, bool identifyTarget)
    {
        var strategy = identifyTarget ? StrategyRegistry.Get(request.Strategy) : null;
        var target = strategy?.ResolveTarget(request);
        var report = await HealthVerifier.VerifyAsync(request.HealthChecks, request.SmokeTests, context.Observer, context.Cancellation).ConfigureAwait(false);
        report.AttemptId = attemptId;
        if (strategy is null || target is null)
        {
            return report;
        }

        var targetKey = target.Key;
        var attempt = attemptId is null ? null : context.State.Journal.GetAttempts(attemptId: attemptId).FirstOrDefault();
        string? version, commit;
        try
        {
            (version, commit) = await strategy.GetCurrentVersionAsync(request, context).ConfigureAwait(false);
        }
        catch (RollbackException) when (attempt is not null)
        {
            // A piped result does not carry credentials (e.g. a flag service's token): it is where the rollback left the target.
            (version, commit) = (attempt.ToVersion, null);
        }

        FillHealthTarget(report, strategy.Name, targetKey, target.Location, context.State, version);

        var record = report.Healthy && (recordVerified || attempt?.Outcome == RollbackOutcome.Succeeded);
        var action = record ? $"Record {version} as verified-good (the default rollback target from now on)" : "Record the health verdict in the journal";
        if (!await context.Observer.ShouldProcessAsync(targetKey, action).ConfigureAwait(false))
        {
            return report;
        }

        await RecordHealthAsync(context, strategy, request, report, commit, record).ConfigureAwait(false);
        if (attempt is not null)
        {
            attempt.Health = report;
            attempt.Verification = report.Healthy ? VerificationOutcome.Passed : VerificationOutcome.Failed;
            if (!report.Healthy && attempt.Outcome == RollbackOutcome.Succeeded)
            {
                attempt.Outcome = RollbackOutcome.Failed;
                attempt.TimeToRecovery = null;
                attempt.Message = "The post-rollback verification failed: " + DescribeUnhealthy(report);
                await EmitAsync(SignalNames.RollbackFailed, attempt, request, context, ("error", attempt.Message)).ConfigureAwait(false);

                // A rollback that fails its verification counts toward escalation like one that failed by itself.
                var earlier = EscalationPolicy.FailuresInWindow(context.State.Journal, targetKey, request.EscalationWindow, DateTimeOffset.UtcNow, attempt.AttemptId).Count;
                if (EscalationPolicy.Escalates(earlier, request.EscalationThreshold))
                {
                    attempt.Outcome = RollbackOutcome.Escalated;
                    attempt.Message = EscalationPolicy.EscalatedMessage(earlier + 1, request.EscalationWindow, attempt.Message);
                    await EmitAsync(SignalNames.ManualInterventionRequired, attempt, request, context, ("error", attempt.Message),
                        ("escalation", $"{earlier + 1} failed rollback attempts")).ConfigureAwait(false);
                }
            }

            context.State.Journal.CompleteAttempt(attempt);
        }

        if (!report.Healthy && signalOnFailure)
        {
            await new SignalStore(context.State).EmitAsync(SignalNames.HealthCheckFailed,
                new Dictionary<string, object?> { ["reason"] = DescribeUnhealthy(report), ["version"] = report.Version, ["failure_type"] = (!report.HealthChecksPassed ? FailureType.HealthCheckFailed : FailureType.SmokeTestFailed).ToString() },
                report.TargetKey, request.WebhookUri, context.Observer, context.Cancellation).ConfigureAwait(false);
        }

        return report;
    }

    /// <summary>Asks the strategy to put back what its steps replaced, after an error or a cancellation.</summary>
    private static async Task UndoAsync(IRollbackStrategy strategy, RollbackPlan plan, RollbackRequest request, RollbackResult result, EngineContext context)
    {
        try
        {
            if (await strategy.CompleteAsync(plan, request, verified: false, context).ConfigureAwait(false) is { } undo)
            {
                result.Steps.Add(undo);
            }
        }
        catch (Exception undoError) when (undoError is not OperationCanceledException)
        {
            result.Message += $" Putting back the previous state also failed: {SecretRedactor.Redact(undoError.Message)}";
        }
    }

    private static TargetSpec SpecOf(IRollbackStrategy strategy, RollbackRequest request) => new()
    {
        Strategy = strategy.Name, Path = request.Path, Name = request.Name, DockerHost = request.DockerHost,
        File = request.File, ProjectName = request.ProjectName, Services = request.Services.ToList(),
        Provider = request.Provider, Flag = request.Flag, ServiceUri = ShowableUri(request.ServiceUri), Project = request.Project, Environment = request.Environment,
        Tool = request.Tool, ToolPath = request.ToolPath, App = request.App,
        Namespace = request.Namespace, Kind = request.Kind, KubeConfig = request.KubeConfig, Context = request.KubeContext,
    };

    // The spec is journaled and carried by results: never with user info or secret query values (a piped re-run must
    // be given them again, as it is given -ApiToken).
    private static string? ShowableUri(Uri? uri) => uri is null ? null : SecretRedactor.Redact(UrlCredentials.WithoutUserInfo(uri).ToString());

    private static void FillHealthTarget(HealthReport report, string strategy, string targetKey, string path, StateRoot state, string? version)
    {
        report.Strategy = strategy;
        report.TargetKey = targetKey;
        report.Path = path;
        report.StateDirectory = state.Directory;
        report.Version = version;
    }

    private static async Task RecordHealthAsync(EngineContext context, IRollbackStrategy strategy, RollbackRequest request, HealthReport report, string? commit, bool recordVerified)
    {
        var state = context.State;
        var evidence = $"{report.Checks.Count(c => c.Passed)}/{report.Checks.Count} health checks and {report.SmokeTests.Count(s => s.Passed)}/{report.SmokeTests.Count} smoke tests passed";
        state.Journal.AddEvent(new JournalEvent(report.TargetKey, report.AttemptId, report.CheckedAt, JournalEventKinds.HealthChecked,
            JsonSerializer.Serialize(new { report.Healthy, report.HealthChecksPassed, report.SmokeTestsPassed, HealthChecks = report.Checks.Count, SmokeTests = report.SmokeTests.Count, report.Version }, Journal.JsonOptions)));
        if (recordVerified && report.Version is not null)
        {
            var snapshot = System.IO.Path.Combine(state.SnapshotsDirectory, Guid.NewGuid().ToString("N")[..12]);
            Directory.CreateDirectory(snapshot);
            bool captured;
            try
            {
                captured = await strategy.CaptureVerifiedSnapshotAsync(request, snapshot, context).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The version is verified all the same; only its exact restore state is missing.
                context.Observer.Warning($"{report.Version} is recorded verified-good, but its state could not be captured for a later rollback: {SecretRedactor.Redact(e.Message)}");
                captured = false;
            }

            if (!captured)
            {
                Directory.Delete(snapshot, recursive: true);
                snapshot = null;
            }

            state.Journal.RecordVerified(new VerifiedVersion
            {
                TargetKey = report.TargetKey, Strategy = report.Strategy, Version = report.Version, Commit = commit,
                RecordedAt = DateTimeOffset.UtcNow, Evidence = evidence, Snapshot = snapshot,
            });
            report.RecordedVerifiedVersion = report.Version;
        }
    }

    private static async Task FinishAsync(RollbackResult result, int earlierFailures, RollbackRequest request, EngineContext context, CancellationToken cancellation)
    {
        result.CompletedAt = DateTimeOffset.UtcNow;
        result.Duration = result.CompletedAt - result.StartedAt;
        if (result.Outcome == RollbackOutcome.Failed && result.Steps.FirstOrDefault(s => s.Escalate) is { } criterion)
        {
            result.Outcome = RollbackOutcome.Escalated;
            result.Message = $"Escalated at once: {criterion.Message}";
        }
        else if (result.Outcome == RollbackOutcome.Failed && EscalationPolicy.Escalates(earlierFailures, request.EscalationThreshold))
        {
            result.Outcome = RollbackOutcome.Escalated;
            result.Message = EscalationPolicy.EscalatedMessage(earlierFailures + 1, request.EscalationWindow, result.Message);
        }

        // Recovery is only known when the checks say so: an unverified rollback has no time to recovery.
        if (result.Outcome == RollbackOutcome.Succeeded && result.Verification == VerificationOutcome.Passed)
        {
            result.TimeToRecovery = result.CompletedAt - (result.FailureDetectedAt ?? result.StartedAt);
        }

        var quiet = new EngineContext(context.State, context.Observer, cancellation);
        if (result.Outcome == RollbackOutcome.Succeeded)
        {
            await EmitAsync(SignalNames.RollbackComplete, result, request, quiet, ("rolled_back_to", result.ToVersion), ("from_version", result.FromVersion),
                ("verified", result.Verification == VerificationOutcome.Passed),
                ("time_to_recovery_seconds", result.TimeToRecovery is { } recovery ? Math.Round(recovery.TotalSeconds, 1) : null)).ConfigureAwait(false);
        }
        else if (result.Outcome != RollbackOutcome.Skipped)
        {
            await EmitAsync(SignalNames.RollbackFailed, result, request, quiet, ("error", result.Message), ("rolled_back_to", null)).ConfigureAwait(false);
            if (result.Outcome == RollbackOutcome.Escalated)
            {
                var atOnce = result.Steps.FirstOrDefault(s => s.Escalate);
                await EmitAsync(SignalNames.ManualInterventionRequired, result, request, quiet, ("error", result.Message),
                    ("escalation", atOnce is null ? $"{result.AttemptNumber} failed rollback attempts" : $"{atOnce.ErrorId ?? "criterion met"}: {atOnce.Message}")).ConfigureAwait(false);
            }
        }

        context.State.Journal.CompleteAttempt(result);
    }

    internal static async Task EmitAsync(string name, RollbackResult result, RollbackRequest request, EngineContext context, params (string Key, object? Value)[] extra)
    {
        var data = new Dictionary<string, object?>
        {
            ["reason"] = result.Reason ?? "not given",
            ["strategy"] = result.Strategy,
            ["target"] = result.TargetKey,
            ["attempt_id"] = result.AttemptId,
            ["attempt"] = result.AttemptNumber,
        };
        foreach (var (key, value) in extra)
        {
            data[key] = value;
        }

        RollbackSignal signal;
        try
        {
            signal = await new SignalStore(context.State).EmitAsync(name, data, result.TargetKey, request.WebhookUri, context.Observer, context.Cancellation).ConfigureAwait(false);
        }
        catch (RollbackException e)
        {
            // A signal that cannot be written does not change what happened to the target: the outcome stands.
            context.Observer.Warning($"The signal {name} was not emitted: {e.Message}");
            return;
        }

        result.Signals.Add(name);
        if (signal.WebhookStatusCode is >= 200 and < 300)
        {
            context.State.Journal.AddEvent(new JournalEvent(result.TargetKey, result.AttemptId, signal.Time, JournalEventKinds.SignalEmitted, name + " delivered"));
        }
    }

    private static async Task<T?> RunStepAsync<T>(RollbackResult result, string name, CancellationToken cancellation, Func<Task<(T Value, string Message)>> action)
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
        catch (Exception e) when (cancellation.IsCancellationRequested)
        {
            // Whatever the step reports once the user cancelled (a stopped script fails), it was cancelled.
            step.Status = StepStatus.Cancelled;
            step.Message = CancelledStepMessage;
            throw e as OperationCanceledException ?? new OperationCanceledException(CancelledStepMessage, e, cancellation);
        }
        catch (Exception e)
        {
            // Also a timeout inside the step: only the user's cancellation stops the attempt.
            step.Status = StepStatus.Failed;
            step.Message = SecretRedactor.Redact(e.Message);
            step.ErrorId = (e as RollbackException)?.ErrorId;
            return default;
        }
        finally
        {
            step.Duration = DateTimeOffset.UtcNow - step.StartedAt;
        }
    }

    /// <summary>Runs one strategy step and adds its result to the attempt, a cancelled one included.</summary>
    private static async Task<StepResult> ExecuteStepGuardedAsync(this IRollbackStrategy strategy, PlanStep step, RollbackPlan plan, RollbackRequest request, RollbackCheckpoint checkpoint, EngineContext context, RollbackResult result)
    {
        var started = DateTimeOffset.UtcNow;
        StepResult stepResult;
        try
        {
            stepResult = await strategy.ExecuteStepAsync(step, plan, request, checkpoint, context).ConfigureAwait(false);
        }
        catch (Exception e) when (context.Cancellation.IsCancellationRequested)
        {
            result.Steps.Add(new StepResult
            {
                Name = $"{step.Action} {step.Target}", Status = StepStatus.Cancelled, StartedAt = started, Duration = DateTimeOffset.UtcNow - started, Message = CancelledStepMessage,
            });
            throw e as OperationCanceledException ?? new OperationCanceledException(CancelledStepMessage, e, context.Cancellation);
        }
        catch (Exception e)
        {
            stepResult = new StepResult
            {
                Name = $"{step.Action} {step.Target}", Status = StepStatus.Failed, StartedAt = started, Duration = DateTimeOffset.UtcNow - started,
                Message = SecretRedactor.Redact(e.Message), ErrorId = (e as RollbackException)?.ErrorId,
            };
        }

        result.Steps.Add(stepResult);
        return stepResult;
    }

    private static string DescribeUnhealthy(HealthReport? report) => report is null ? "no report" : string.Join("; ",
        report.Checks.Where(c => !c.Passed).Select(c => $"{c.Uri}: {c.Message}")
            .Concat(report.SmokeTests.Where(s => !s.Passed).Select(s => $"smoke test {s.Name} failed (exit code {s.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "none"})")));

    internal static string Tail(string text, int lines)
    {
        var all = text.TrimEnd().Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }
}

/// <summary>One workload of a -Selector rollback: its result, or the error that kept it from starting.</summary>
public sealed record SelectedOutcome(string Name, RollbackResult? Result, RollbackException? Error);
