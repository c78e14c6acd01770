namespace DeploymentRollback.Engine;

/// <summary>
/// When repeated failures need a human, decided in one place for rollbacks, retries and verifications: the failed,
/// escalated and interrupted attempts of a target that started within the window, back to its last success.
/// </summary>
public static class EscalationPolicy
{
    /// <summary>Journal event kind written when an escalation leaves the window and attempts may run again.</summary>
    public const string EscalationLapsed = "EscalationLapsed";

    public static bool CountsAsFailure(RollbackOutcome outcome) => outcome is RollbackOutcome.Failed or RollbackOutcome.Escalated or RollbackOutcome.Interrupted;

    /// <summary>
    /// The failures that count, newest first. Only a success ends the count: a Skipped attempt changed nothing, so it
    /// neither counts nor resets it.
    /// </summary>
    public static IReadOnlyList<RollbackResult> FailuresInWindow(Journal journal, string targetKey, TimeSpan window, DateTimeOffset now, string? exceptAttemptId = null) =>
        journal.GetAttempts(targetKey, since: now - window)
            .Where(a => a.AttemptId != exceptAttemptId)
            .TakeWhile(a => a.Outcome != RollbackOutcome.Succeeded)
            .Where(a => CountsAsFailure(a.Outcome))
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
