using System.Text.Json;

namespace DeploymentRollback.Engine;

/// <summary>The spec's rollback checklist, each item ticked only when the journal holds the evidence.</summary>
public static class Checklist
{
    public static IReadOnlyList<ChecklistItem> Build(StateRoot state, RollbackResult attempt)
    {
        var events = state.Journal.GetEvents(attempt.TargetKey, (attempt.FailureDetectedAt ?? attempt.StartedAt).AddMinutes(-1));
        var forAttempt = events.Where(e => e.AttemptId == attempt.AttemptId).ToList();
        var assessed = events.LastOrDefault(e => e.Kind == JournalEventKinds.Assessed && e.At <= attempt.StartedAt);
        var assessedSummary = assessed is null ? null : JsonSerializer.Deserialize<AssessmentSummary>(assessed.Detail, Journal.JsonOptions);
        var health = attempt.Health;
        var restart = attempt.Steps.FirstOrDefault(s => s.Name.StartsWith("Restart", StringComparison.Ordinal));
        var mutating = attempt.Steps.Where(s => s.Name != "Checkpoint").ToList();
        var finalSignal = attempt.Signals.LastOrDefault(s => s is SignalNames.RollbackComplete or SignalNames.RollbackFailed or SignalNames.ManualInterventionRequired);
        // Told: a signal's webhook took it, or a notification (Teams, Slack, a webhook, email) was delivered.
        var delivered = forAttempt.Where(e => (e.Kind == JournalEventKinds.SignalEmitted && e.Detail.EndsWith(" delivered", StringComparison.Ordinal))
            || (e.Kind == Notifier.SentKind && e.Detail.Contains(" delivered to ", StringComparison.Ordinal))).Select(e => e.Detail).ToList();
        var report = forAttempt.LastOrDefault(e => e.Kind == JournalEventKinds.ReportWritten);

        var failureConfirmed = attempt.FailureType != FailureType.Unknown || assessedSummary is { FailureType: not FailureType.Unknown };
        return new List<ChecklistItem>
        {
            Item("Pre-Rollback", "Confirmed deployment failure", failureConfirmed,
                failureConfirmed ? IncidentReportWriter.Describe(attempt.FailureType != FailureType.Unknown ? attempt.FailureType : assessedSummary!.FailureType) : null),
            Item("Pre-Rollback", "Identified rollback target (previous working version)", attempt.ToVersion is not null, attempt.ToVersion),
            Item("Pre-Rollback", "Created checkpoint of failed state", attempt.CheckpointName is not null, attempt.CheckpointName),
            Item("Pre-Rollback", "Notified team (if production)", delivered.Any(d => d.StartsWith(SignalNames.RollbackStarted, StringComparison.Ordinal)),
                delivered.FirstOrDefault(d => d.StartsWith(SignalNames.RollbackStarted, StringComparison.Ordinal))),
            Item("Rollback Execution", "Executed rollback command(s)", mutating.Count > 0, mutating.Count > 0 ? string.Join(", ", mutating.Select(s => s.Name)) : null),
            Item("Rollback Execution", "Verified no errors during rollback", mutating.Count > 0 && attempt.Steps.All(s => s.Status is not (StepStatus.Failed or StepStatus.Cancelled)),
                mutating.Count > 0 ? $"{attempt.Steps.Count(s => s.Status == StepStatus.Succeeded)} step(s) succeeded" : null),
            Item("Rollback Execution", "Confirmed services restarted", restart?.Status == StepStatus.Succeeded, restart?.Name),
            Item("Post-Rollback Verification", "Health checks passing", health is { Checks.Count: > 0, HealthChecksPassed: true }, health is null ? null : $"{health.Checks.Count} check(s)"),
            Item("Post-Rollback Verification", "Smoke tests passing", health is { SmokeTests.Count: > 0, SmokeTestsPassed: true }, health is null ? null : $"{health.SmokeTests.Count} smoke test(s)"),
            Item("Post-Rollback Verification", "Key functionality verified", health is { Healthy: true, SmokeTests.Count: > 0 }, health is { Healthy: true } ? "health checks and smoke tests passed" : null),
            Item("Post-Rollback Verification", "No error spikes in logs", false, "not measured by the module: check the service's logs"),
            Item("Documentation", "Incident documented", report is not null, report?.Detail),
            Item("Documentation", "Root cause identified (or investigation task created)", attempt.Reason is not null, attempt.Reason),
            Item("Documentation", "Rollback signal created", finalSignal is not null, finalSignal),
            Item("Documentation", "Team notified of resolution", finalSignal is not null && delivered.Any(d => d.StartsWith(finalSignal, StringComparison.Ordinal)),
                delivered.LastOrDefault()),
        };
    }

    private static ChecklistItem Item(string section, string text, bool done, string? evidence) => new() { Section = section, Item = text, Done = done, Evidence = evidence };
}
