namespace DeploymentRollback.Engine;

/// <summary>
/// When repeated failures need a human, decided in one place for rollbacks, retries and verifications: the failed,
/// escalated and interrupted attempts of a target that started within the window, back to its last success. Refuse
/// (Gate), count (FailuresInWindow), decide (Decide) and signal (SignalAsync).
/// </summary>
public static class EscalationPolicy
{
    /// <summary>
    /// Before an attempt: refuses an escalated target unless forced (what: "roll back", "retry"), reports a lapsed
    /// escalation once, and returns the earlier failures that count.
    /// </summary>
    public static IReadOnlyList<RollbackResult> Gate(Journal journal, string targetKey, EscalationOptions options, bool force, string what, IRollbackObserver observer)
    {
        var now = DateTimeOffset.UtcNow;
        var failures = FailuresInWindow(journal, targetKey, options.Window, now);
        if (!force && failures.FirstOrDefault(f => f.Outcome == RollbackOutcome.Escalated) is { } escalated)
        {
            throw new RollbackException(ErrorIds.RollbackEscalated, RollbackErrorKind.InvalidOperation,
                $"{targetKey} was escalated at {escalated.CompletedAt:u} after {failures.Count} failed attempt(s), and MANUAL_INTERVENTION_REQUIRED was signalled; trying to {what} again would only repeat them. " +
                $"Investigate by hand (Get-RollbackHistory, the checkpoints, the incident report); pass -Force to {what} anyway.")
            { TargetName = targetKey };
        }

        ReportLapse(journal, targetKey, options.Window, now, observer);
        return failures;
    }

    /// <summary>
    /// After a failed attempt: escalates it at once when a step met a criterion by itself (e.g. an inconsistent
    /// database), or when it reaches the threshold with the earlier failures. Sets its outcome and message and returns
    /// why (for the MANUAL_INTERVENTION_REQUIRED signal), or null when it does not escalate.
    /// </summary>
    public static string? Decide(RollbackResult attempt, int earlierFailures, EscalationOptions options, string? countedMessage = null)
    {
        if (attempt.Outcome != RollbackOutcome.Failed || StoppedOnStateFolder(attempt))
        {
            return null;
        }

        if (attempt.Steps.FirstOrDefault(s => s.Escalate) is { } criterion)
        {
            attempt.Outcome = RollbackOutcome.Escalated;
            attempt.Message = $"Escalated at once: {criterion.Message}";
            return $"{criterion.ErrorId ?? "criterion met"}: {criterion.Message}";
        }

        if (!Escalates(earlierFailures, options.Threshold))
        {
            return null;
        }

        attempt.Outcome = RollbackOutcome.Escalated;
        attempt.Message = countedMessage ?? EscalatedMessage(earlierFailures + 1, options.Window, attempt.Message);
        return $"{earlierFailures + 1} failed {(attempt.Strategy == Retry.QuickRetry.StrategyName ? "attempts (quick retry)" : "rollback attempts")}";
    }

    /// <summary>The signal that asks for a person, with why.</summary>
    public static Task SignalAsync(RollbackResult attempt, string why, Uri? webhookUri, EngineContext context) =>
        RollbackEngine.EmitAsync(SignalNames.ManualInterventionRequired, attempt, webhookUri, context, ("error", attempt.Message), ("escalation", why));

    /// <summary>Journal event kind written when an escalation leaves the window and attempts may run again.</summary>
    public const string EscalationLapsed = "EscalationLapsed";

    public static bool CountsAsFailure(RollbackOutcome outcome) => outcome is RollbackOutcome.Failed or RollbackOutcome.Escalated or RollbackOutcome.Interrupted;

    /// <summary>The engine's first step, which keeps the failed state before anything changes.</summary>
    public const string CheckpointStep = "Checkpoint";

    /// <summary>
    /// A failed attempt that stopped because the state folder could not keep its checkpoint (read-only, full, damaged):
    /// the target was never touched, and trying again once the folder is mended is not a repeat of a failed rollback,
    /// so it neither counts toward escalation nor escalates.
    /// </summary>
    public static bool StoppedOnStateFolder(RollbackResult attempt) =>
        attempt.Outcome == RollbackOutcome.Failed
        && attempt.Steps.FirstOrDefault(s => s.Status == StepStatus.Failed) is { Name: CheckpointStep } failed
        && StateFaults.IsStateFaultId(failed.ErrorId);

    /// <summary>
    /// The failures that count, newest first. Only a success ends the count: a Skipped attempt changed nothing, so it
    /// neither counts nor resets it.
    /// </summary>
    public static IReadOnlyList<RollbackResult> FailuresInWindow(Journal journal, string targetKey, TimeSpan window, DateTimeOffset now, string? exceptAttemptId = null) =>
        journal.GetAttempts(targetKey, since: now - window)
            .Where(a => a.AttemptId != exceptAttemptId)
            .TakeWhile(a => a.Outcome != RollbackOutcome.Succeeded)
            .Where(a => CountsAsFailure(a.Outcome) && !StoppedOnStateFolder(a))
            .ToList();

    /// <summary>Whether this failure, after the earlier ones, reaches the threshold.</summary>
    public static bool Escalates(int earlierFailures, int threshold) => earlierFailures + 1 >= threshold;

    public static string EscalatedMessage(int failures, TimeSpan window, string? lastError) =>
        $"Escalated after {failures} failed attempts within {window.TotalMinutes:0} minutes. Last error: {lastError}";

    /// <summary>
    /// The escalation that no longer stops attempts because it left the window: the target's newest attempt that
    /// counts (Skipped ones aside) was escalated and started before the window. Said once, as a warning and a journal event.
    /// </summary>
    public static void ReportLapse(Journal journal, string targetKey, TimeSpan window, DateTimeOffset now, IRollbackObserver observer)
    {
        var newest = journal.GetAttempts(targetKey, limit: 50).FirstOrDefault(a => a.Outcome != RollbackOutcome.Skipped);
        if (newest is not { Outcome: RollbackOutcome.Escalated } || newest.StartedAt >= now - window)
        {
            return;
        }

        var message = $"The escalation of {targetKey} at {newest.CompletedAt:u} (attempt {newest.AttemptId}) has lapsed: it is older than the " +
            $"{window.TotalMinutes:0}-minute escalation window, so this attempt runs and the failure count starts again. " +
            "MANUAL_INTERVENTION_REQUIRED was signalled then; make sure it was handled.";
        observer.Warning(message);
        journal.AddEvent(new JournalEvent(targetKey, newest.AttemptId, now, EscalationLapsed, message));
    }
}
