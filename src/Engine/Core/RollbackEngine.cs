using System.Globalization;
using System.Text.Json;

namespace DeploymentRollback.Engine;

/// <summary>The four phases, shared by every strategy: assess, checkpoint, execute and verify, signal.</summary>
public static class RollbackEngine
{
    private const string HealthCheckErrorPrefix = "Health check ";
    internal const string CancelledStepMessage = "Cancelled by the user before the step finished; it may have been partly done.";

    public static async Task<RollbackAssessment> AssessAsync(RollbackRequest request, EngineContext context)
    {
        await using var session = StrategyRegistry.Open(request, context);
        var target = session.Target;
        var targetKey = target.Key;
        context.Observer.Progress(new ProgressUpdate("Assessing", targetKey));
        // The journal's reads do not depend on the strategy's: they overlap (a fresh process loads SQLite meanwhile).
        // When the strategy's error ends the assessment first, the journal read's error is observed and dropped.
        var failureRead = Task.Run(() => FailureContext.Resolve(context.State, targetKey, request.FailureType, request.Reason));
        failureRead.DropFaults();
        var found = await session.AssessAsync().ConfigureAwait(false);

        HealthReport? health = null;
        if (request.Verification.Any)
        {
            health = await HealthVerifier.VerifyAsync(request.Verification.HealthChecks, request.Verification.SmokeTests, context.Observer, context.Cancellation).ConfigureAwait(false);
            FillHealthTarget(health, request.Strategy, targetKey, target.Location, context.State, found.CurrentVersion);
        }

        var failure = await failureRead.ConfigureAwait(false);
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
            Strategy = request.Strategy,
            TargetKey = targetKey,
            Path = target.Location,
            StateDirectory = context.State.Directory,
            AssessedAt = DateTimeOffset.UtcNow,
            FailureType = type,
            FailureReason = reason is null ? null : SecretRedactor.Redact(reason),
            CurrentVersion = found.CurrentVersion,
            CurrentCommit = found.CurrentIdentity,
            LastGoodVersion = found.LastGoodVersion,
            LastGoodSource = found.LastGoodSource,
            Errors = errors.Select(SecretRedactor.Redact).Distinct().ToList(),
            LogExcerpts = logs.Select(SecretRedactor.Redact).ToList(),
            AffectedComponents = found.AffectedComponents,
            Changes = found.Changes.Select(SecretRedactor.Redact).ToList(),
            RecommendedStrategy = transient ? Retry.QuickRetry.StrategyName : found.LastGoodVersion is null ? "Manual" : request.Strategy,
            Rationale = transient
                ? "The failure looks transient (a dependency's refused or timed-out connection, or a health check that passed only on a retry) and the deployment itself completed: retry it with Invoke-DeploymentRetry before rolling back. If it fails again: " + rationale
                : rationale,
            Health = health,
            HasUncommittedChanges = found.HasUncommittedChanges,
            Facts = found.Facts,
            Deployment = request.Deployment.WithoutSecrets(SecretRedactor.Redact),
        };

        var summary = AssessmentSummary.Of(assessment.FailureType, assessment.FailureReason, assessment.CurrentVersion, assessment.LastGoodVersion, assessment.Errors);
        context.State.Journal.AddEvent(new JournalEvent(targetKey, null, assessment.AssessedAt, JournalEventKinds.Assessed, summary.ToJson()));
        context.Observer.Progress(new ProgressUpdate("Assessing", "Done", Completed: true));
        return assessment;
    }

    public static async Task<RollbackCheckpoint?> CreateCheckpointAsync(RollbackRequest request, EngineContext context)
    {
        await using var session = StrategyRegistry.Open(request, context);
        var target = session.Target;
        var targetKey = target.Key;
        var store = new CheckpointStore(context.State, request.CheckpointDirectory);
        var name = store.NewName(request.CheckpointName);
        if (!await context.Observer.ShouldProcessAsync(targetKey, $"Create checkpoint '{name}' of the current state in {context.State.Describe(context.State.CheckpointsDirectory)}").ConfigureAwait(false))
        {
            return null;
        }

        return await store.CreateAsync(name, request.Strategy, targetKey, target.Location, session.CaptureCheckpointAsync, request.Deployment).ConfigureAwait(false);
    }

    /// <summary>Returns null when consent was not given for every step (-WhatIf, or a "no" at -Confirm): then nothing changed.</summary>
    public static async Task<RollbackResult?> InvokeAsync(RollbackRequest request, EngineContext context)
    {
        await using var session = StrategyRegistry.Open(request, context);
        (session as IStartsToolEarly)?.StartTool();
        await using var targetLock = await context.State.Store.AcquireLockAsync(session.Target.Key, request.LockTimeout, context.Observer, context.Cancellation).ConfigureAwait(false);
        await InterruptedAttempts.RecoverAsync(session.Target.Key, request.WebhookUri, context).ConfigureAwait(false);
        return await new RollbackRun(request, context, session).RunAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// A selection (-Selector): every target it names rolled back in parallel, each as its own attempt (own lock,
    /// checkpoint, journal entry and signals). Healthy ones are reported Skipped unless -All.
    /// </summary>
    public static async Task<IReadOnlyList<SelectedOutcome>> InvokeSelectedAsync(RollbackRequest request, EngineContext context)
    {
        // The selection and its targets' runs share what their strategy can reuse (one cluster client, not one per workload).
        using var shared = new SharedResources();
        context = context.WithShared(shared);
        IReadOnlyList<SelectedTarget> candidates;
        string selection;
        bool includesHealthy;
        await using (var session = StrategyRegistry.Open(request, context))
        {
            if (!request.Deployment.IsSelection || session is not ISelectsTargets selecting)
            {
                throw new RollbackException(ErrorIds.ParameterNotForStrategy, RollbackErrorKind.InvalidArgument,
                    $"The {request.Strategy} strategy names one target at a time; name one target instead of a selection.");
            }

            candidates = await selecting.SelectAsync().ConfigureAwait(false);
            (selection, includesHealthy) = (selecting.Selection, selecting.IncludesHealthy);
        }

        var outcomes = new SelectedOutcome[candidates.Count];
        using var gate = new SemaphoreSlim(Math.Min(16, candidates.Count));
        var chosen = Math.Max(1, candidates.Count(c => c.Failing || includesHealthy));
        var done = 0;
        await Task.WhenAll(candidates.Select(async (candidate, index) =>
        {
            var name = candidate.Name;
            if (!candidate.Failing && !includesHealthy)
            {
                outcomes[index] = new SelectedOutcome(name, await SkippedHealthyAsync(candidate.Request, candidate.State, context).ConfigureAwait(false), null);
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
                context.Observer.Progress(new ProgressUpdate($"Rolling back {selection}", $"{finished} of {chosen} done", 100 * finished / chosen));
            }
        })).ConfigureAwait(false);
        context.Observer.Progress(new ProgressUpdate($"Rolling back {selection}", "Done", Completed: true));
        return outcomes;
    }

    private static async Task<RollbackResult> SkippedHealthyAsync(RollbackRequest request, string state, EngineContext context)
    {
        await using var session = StrategyRegistry.Open(request, context);
        var target = session.Target;
        var now = DateTimeOffset.UtcNow;
        return new RollbackResult
        {
            AttemptId = "",
            Strategy = request.Strategy,
            TargetKey = target.Key,
            Path = target.Location,
            Outcome = RollbackOutcome.Skipped,
            Message = $"Not failing ({state}), so not rolled back; pass -All to roll back every matching workload.",
            StartedAt = now,
            CompletedAt = now,
            Deployment = request.Deployment.WithoutSecrets(SecretRedactor.Redact),
        };
    }

    /// <summary>
    /// Runs health checks and smoke tests. With a target, the verdict is journaled (after consent): as the verification
    /// of attemptId when given, and the version recorded verified-good when healthy and asked (or verifying a successful attempt).
    /// </summary>
    public static Task<HealthReport> TestHealthAsync(RollbackRequest request, string? attemptId, bool recordVerified, bool signalOnFailure, EngineContext context) =>
        TestHealthAsync(request, request.Verification, attemptId, recordVerified, signalOnFailure, context);

    /// <summary>The same, where the checks may name no target (request null): then nothing is journaled.</summary>
    public static async Task<HealthReport> TestHealthAsync(RollbackRequest? request, VerificationOptions verification, string? attemptId, bool recordVerified, bool signalOnFailure, EngineContext context)
    {
        await using var session = request is null ? null : StrategyRegistry.Open(request, context);
        var report = await HealthVerifier.VerifyAsync(verification.HealthChecks, verification.SmokeTests, context.Observer, context.Cancellation).ConfigureAwait(false);
        report.AttemptId = attemptId;
        if (request is null || session is null)
        {
            return report;
        }

        var target = session.Target;
        var targetKey = target.Key;
        var attempt = attemptId is null ? null : context.State.Journal.GetAttempts(attemptId: attemptId).FirstOrDefault();
        string? version, commit;
        try
        {
            (version, commit) = await session.GetCurrentVersionAsync().ConfigureAwait(false);
        }
        catch (RollbackException) when (attempt is not null)
        {
            // A piped result does not carry credentials (e.g. a flag service's token): it is where the rollback left the target.
            (version, commit) = (attempt.ToVersion, null);
        }

        FillHealthTarget(report, request.Strategy, targetKey, target.Location, context.State, version);

        var record = report.Healthy && (recordVerified || attempt?.Outcome == RollbackOutcome.Succeeded);
        var action = record ? $"Record {version} as verified-good (the default rollback target from now on)" : "Record the health verdict in the journal";
        if (!await context.Observer.ShouldProcessAsync(targetKey, action).ConfigureAwait(false))
        {
            return report;
        }

        await RecordHealthAsync(context, session, report, commit, record).ConfigureAwait(false);
        if (attempt is not null)
        {
            attempt.Health = report;
            attempt.Verification = report.Healthy ? VerificationOutcome.Passed : VerificationOutcome.Failed;
            if (!report.Healthy && attempt.Outcome == RollbackOutcome.Succeeded)
            {
                attempt.Outcome = RollbackOutcome.Failed;
                attempt.TimeToRecovery = null;
                attempt.Message = "The post-rollback verification failed: " + DescribeUnhealthy(report);
                await EmitAsync(SignalNames.RollbackFailed, attempt, request.WebhookUri, context, ("error", attempt.Message)).ConfigureAwait(false);

                // A rollback that fails its verification counts toward escalation like one that failed by itself.
                var earlier = EscalationPolicy.FailuresInWindow(context.State.Journal, targetKey, request.Escalation.Window, DateTimeOffset.UtcNow, attempt.AttemptId).Count;
                if (EscalationPolicy.Decide(attempt, earlier, request.Escalation) is { } why)
                {
                    await EscalationPolicy.SignalAsync(attempt, why, request.WebhookUri, context).ConfigureAwait(false);
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

    internal static void FillHealthTarget(HealthReport report, string strategy, string targetKey, string path, StateRoot state, string? version)
    {
        report.Strategy = strategy;
        report.TargetKey = targetKey;
        report.Path = path;
        report.StateDirectory = state.Directory;
        report.Version = version;
    }

    /// <summary>The verdict as a journal event of the report's target (the checklist's evidence).</summary>
    internal static void JournalHealth(StateRoot state, HealthReport report) =>
        state.Journal.AddEvent(new JournalEvent(report.TargetKey, report.AttemptId, report.CheckedAt, JournalEventKinds.HealthChecked,
            JsonSerializer.Serialize(new { report.Healthy, report.HealthChecksPassed, report.SmokeTestsPassed, HealthChecks = report.Checks.Count, SmokeTests = report.SmokeTests.Count, report.Version }, Journal.JsonOptions)));

    internal static async Task RecordHealthAsync(EngineContext context, IRollbackSession session, HealthReport report, string? commit, bool recordVerified)
    {
        var state = context.State;
        var evidence = $"{report.Checks.Count(c => c.Passed)}/{report.Checks.Count} health checks and {report.SmokeTests.Count(s => s.Passed)}/{report.SmokeTests.Count} smoke tests passed";
        JournalHealth(state, report);
        if (recordVerified && report.Version is not null)
        {
            var snapshot = System.IO.Path.Combine(state.SnapshotsDirectory, Guid.NewGuid().ToString("N")[..12]);
            try
            {
                Directory.CreateDirectory(snapshot);
            }
            catch (Exception e) when (StateFaults.IsFileFault(e))
            {
                throw StateFaults.ForFile(snapshot, "create the verified-good snapshot folder", e);
            }

            bool captured;
            try
            {
                captured = await session.CaptureVerifiedSnapshotAsync(snapshot).ConfigureAwait(false);
            }
            catch (Exception e) when (StateFaults.IsDiskFull(e) || (e is RollbackException known && StateFaults.IsStateFaultId(known.ErrorId)))
            {
                // The state folder, not the version, is at fault: recording the version without the state to restore it
                // would make the next rollback quietly pass it by for an older one.
                CheckpointStore.DeleteQuietly(snapshot);
                throw e as RollbackException ?? StateFaults.ForFile(snapshot, "write the verified-good snapshot in", e);
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
            else
            {
                // A shared store keeps the snapshot itself, so a worker with another disk can restore this version.
                snapshot = SharedArtefacts.Keep(state, snapshot);
            }

            state.Journal.RecordVerified(new VerifiedVersion
            {
                TargetKey = report.TargetKey, Strategy = report.Strategy, Version = report.Version, Commit = commit,
                RecordedAt = DateTimeOffset.UtcNow, Evidence = evidence, Snapshot = snapshot,
            });
            report.RecordedVerifiedVersion = report.Version;
        }
    }

    internal static async Task EmitAsync(string name, RollbackResult result, Uri? webhookUri, EngineContext context, params (string Key, object? Value)[] extra)
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
            signal = await new SignalStore(context.State).EmitAsync(name, data, result.TargetKey, webhookUri, context.Observer, context.Cancellation).ConfigureAwait(false);
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

        if (Notifier.RollbackSignals.Contains(name))
        {
            await Notifier.NotifyAsync(name, result.TargetKey, signal.Data, result, context).ConfigureAwait(false);
        }
    }

    internal static string DescribeUnhealthy(HealthReport? report) => report is null ? "no report" : string.Join("; ",
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
