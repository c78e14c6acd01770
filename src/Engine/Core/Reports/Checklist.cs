using System.Text.Json;

namespace DeploymentRollback.Engine;

/// <summary>The spec's rollback checklist, each item ticked only when the journal holds the evidence.</summary>
public static class Checklist
{
    /// <summary>writing: an event about to be journaled with what it proves (the report being written), counted as if it were.</summary>
    public static IReadOnlyList<ChecklistItem> Build(StateRoot state, RollbackResult attempt, JournalEvent? writing = null)
    {
        var events = state.Journal.GetEvents(attempt.TargetKey, (attempt.FailureDetectedAt ?? attempt.StartedAt).AddMinutes(-1)).Concat(writing is null ? [] : [writing]).ToList();
        var forAttempt = events.Where(e => e.AttemptId == attempt.AttemptId).ToList();
        var assessedSummary = AssessmentSummary.Latest(events.Where(e => e.Kind == JournalEventKinds.Assessed && e.At <= attempt.StartedAt).ToList());
        var health = attempt.Health;
        var restart = attempt.Steps.FirstOrDefault(s => s.Name.StartsWith("Restart", StringComparison.Ordinal));
        var mutating = attempt.Steps.Where(s => s.Name != "Checkpoint").ToList();
        var finalSignal = attempt.Signals.LastOrDefault(s => s is SignalNames.RollbackComplete or SignalNames.RollbackFailed or SignalNames.ManualInterventionRequired);
        // Told: a signal's webhook took it, or a notification (Teams, Slack, a webhook, email) was delivered.
        var delivered = forAttempt.Where(e => (e.Kind == JournalEventKinds.SignalEmitted && e.Detail.EndsWith(" delivered", StringComparison.Ordinal))
            || (e.Kind == Notifier.SentKind && e.Detail.Contains(" delivered to ", StringComparison.Ordinal))).Select(e => e.Detail).ToList();
        var report = forAttempt.LastOrDefault(e => e.Kind == JournalEventKinds.ReportWritten);

        var failureType = attempt.FailureType != FailureType.Unknown ? attempt.FailureType : assessedSummary?.ParseFailureType() ?? FailureType.Unknown;
        var failureConfirmed = failureType != FailureType.Unknown;
        return new List<ChecklistItem>
        {
            Item("Pre-Rollback", "Confirmed deployment failure", failureConfirmed,
                failureConfirmed ? IncidentReportWriter.Describe(failureType) : null),
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
            ErrorSpikes(state, attempt, forAttempt),
            Item("Documentation", "Incident documented", report is not null, report?.Detail),
            Item("Documentation", "Root cause identified (or investigation task created)", attempt.Reason is not null, attempt.Reason),
            Item("Documentation", "Rollback signal created", finalSignal is not null, finalSignal),
            Item("Documentation", "Team notified of resolution", finalSignal is not null && delivered.Any(d => d.StartsWith(finalSignal, StringComparison.Ordinal)),
                delivered.LastOrDefault()),
        };
    }

    private const string NoLogEvidence = "no evidence: the strategy's logs were not read and no Prometheus measurement was taken; check the service's logs";

    /// <summary>
    /// Ticked when some evidence says no spike and none says a spike. The evidence: the attempt's LogsCompared event (the
    /// target's logs after the rollback against the checkpoint's; for a plan, each component's), and the Prometheus
    /// measurements of the target taken after the attempt ended and before its next attempt began (one that could not be
    /// taken does not count).
    /// </summary>
    private static ChecklistItem ErrorSpikes(StateRoot state, RollbackResult attempt, IReadOnlyList<JournalEvent> forAttempt)
    {
        var compared = new List<(string? Component, LogComparison Logs)>();
        if (LastComparison(forAttempt, attempt.AttemptId) is { } own)
        {
            compared.Add((null, own));
        }

        foreach (var component in attempt.Components.Where(c => c.AttemptId is not null))
        {
            if (LastComparison(state.Journal.GetEvents(component.TargetKey, attempt.StartedAt), component.AttemptId!) is { } logs)
            {
                compared.Add((component.Name, logs));
            }
        }

        var measured = Measurements(state, attempt);
        var failed = measured.Where(m => m.Passed == false).ToList();
        var passed = measured.Where(m => m.Passed == true).ToList();
        var evidence = compared.Select(c => (c.Component is null ? "" : c.Component + ": ") + c.Logs.Describe()).ToList();
        if (failed.Count > 0)
        {
            evidence.Add($"spike: {failed.Count} of {measured.Count} Prometheus measurement(s) after the rollback failed ({Describe(failed[^1])})");
        }
        else if (passed.Count > 0)
        {
            evidence.Add($"{passed.Count} Prometheus measurement(s) after the rollback passed ({Describe(passed[^1])})");
        }

        var spike = compared.Any(c => c.Logs.Verdict == LogVerdict.Spike) || failed.Count > 0;
        var noSpike = compared.Any(c => c.Logs.Verdict == LogVerdict.NoSpike) || passed.Count > 0;
        if (evidence.Count == 0)
        {
            evidence.Add(NoLogEvidence);
        }
        else if (!spike && !noSpike)
        {
            evidence.Add("no Prometheus measurement was taken; check the service's logs");
        }

        return Item("Post-Rollback Verification", "No error spikes in logs", noSpike && !spike, string.Join("; ", evidence));
    }

    private static LogComparison? LastComparison(IEnumerable<JournalEvent> events, string attemptId) =>
        events.LastOrDefault(e => e.Kind == JournalEventKinds.LogsCompared && e.AttemptId == attemptId) is { } compared ? Read<LogComparison>(compared.Detail) : null;

    /// <summary>The prometheus probe's measurements of the target after the attempt, until its next attempt; each with a verdict.</summary>
    private static List<Measurement> Measurements(StateRoot state, RollbackResult attempt)
    {
        if (attempt.CompletedAt == default)
        {
            return new List<Measurement>();
        }

        var next = state.Journal.GetAttempts(attempt.TargetKey, since: attempt.StartedAt).Where(a => a.AttemptId != attempt.AttemptId && a.StartedAt > attempt.StartedAt)
            .Select(a => (DateTimeOffset?)a.StartedAt).Min();
        return state.Journal.GetEvents(attempt.TargetKey, attempt.CompletedAt)
            .Where(e => e.Kind == JournalEventKinds.Measured && e.At > attempt.CompletedAt && (next is null || e.At < next) && (e.AttemptId is null || e.AttemptId == attempt.AttemptId))
            .Select(e => Read<Measurement>(e.Detail))
            .OfType<Measurement>()
            .Where(m => string.Equals(m.Probe, "prometheus", StringComparison.OrdinalIgnoreCase) && m.Error is null && m.Passed is not null)
            .ToList();
    }

    private static string Describe(Measurement m) =>
        $"{m.Query ?? "the query"} = {m.Value?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "no value"}{(m.Condition is null ? "" : $", wanted {m.Condition}")}";

    private static T? Read<T>(string json) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, EvidenceJson);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static readonly JsonSerializerOptions EvidenceJson = new(Journal.JsonOptions) { PropertyNameCaseInsensitive = true };

    /// <summary>A Measured event's detail, as the watcher writes it.</summary>
    private sealed record Measurement(string? Probe, string? Query, double? Value, string? Condition, bool? Passed, string? Error);

    private static ChecklistItem Item(string section, string text, bool done, string? evidence) => new() { Section = section, Item = text, Done = done, Evidence = evidence };
}
