using System.Globalization;
using System.Text;
using System.Text.Json;

namespace DeploymentRollback.Engine;

/// <summary>Phase 4: the incident report (what failed, why, what was rolled back, time to recovery, fixes) as Markdown and JSON.</summary>
public static class IncidentReportWriter
{
    private static readonly JsonSerializerOptions ReportJson = new(Journal.JsonOptions) { WriteIndented = true };

    public static RollbackResult FindAttempt(StateRoot state, string? attemptId, string? targetKey)
    {
        var attempt = state.Journal.GetAttempts(targetKey, attemptId, limit: 1).FirstOrDefault();
        return attempt ?? throw new RollbackException(ErrorIds.AttemptNotFound, RollbackErrorKind.ObjectNotFound,
            attemptId is not null
                ? $"No rollback attempt '{attemptId}' is in the journal at {state.JournalPath}. List attempts with Get-RollbackHistory."
                : $"No rollback attempt is recorded{(targetKey is null ? "" : " for " + targetKey)} in {state.JournalPath}. Run Invoke-Rollback first, or pass -StateDirectory where it ran.");
    }

    /// <summary>writing: the ReportWritten event of the report being made, so its checklist counts it as documented.</summary>
    public static IncidentReport Build(StateRoot state, RollbackResult attempt, JournalEvent? writing = null)
    {
        var report = new IncidentReport
        {
            AttemptId = attempt.AttemptId,
            Strategy = attempt.Strategy,
            TargetKey = attempt.TargetKey,
            Outcome = attempt.Outcome,
            GeneratedAt = writing?.At ?? DateTimeOffset.UtcNow,
            TimeToRecovery = attempt.TimeToRecovery,
            WhatFailed = $"{attempt.TargetKey} at version {attempt.FromVersion ?? "unknown"}: {Describe(attempt.FailureType)}.",
            WhyItFailed = attempt.Reason ?? "Not known yet: no reason was given by the DEPLOYMENT_FAILED signal, the assessment or -Reason.",
            WhatWasRolledBack = attempt.Outcome switch
            {
                RollbackOutcome.Succeeded => $"{attempt.Strategy} rollback from {attempt.FromVersion} to {attempt.ToVersion}" + (attempt.Verification == VerificationOutcome.Passed ? ", verified healthy." : ", not verified by health checks."),
                RollbackOutcome.Skipped => $"Nothing: {attempt.Message}",
                _ => $"The {attempt.Strategy} rollback from {attempt.FromVersion} to {attempt.ToVersion} did not complete ({attempt.Outcome}): {attempt.Message}",
            },
        };

        report.RecommendedFixes.AddRange(RecommendFixes(attempt));
        report.Checklist.AddRange(Checklist.Build(state, attempt, writing));
        var timeline = new List<(DateTimeOffset At, string Text)>();
        if (attempt.FailureDetectedAt is { } detected)
        {
            timeline.Add((detected, $"failure detected ({Describe(attempt.FailureType)})"));
        }

        var events = state.Journal.GetEvents(attempt.TargetKey, attempt.FailureDetectedAt ?? attempt.StartedAt.AddHours(-1))
            .Where(e => e.At <= attempt.CompletedAt.AddMinutes(5) || e.AttemptId == attempt.AttemptId);
        foreach (var e in events.Where(e => e.Kind is JournalEventKinds.CheckpointCreated or JournalEventKinds.SignalEmitted or JournalEventKinds.Assessed))
        {
            timeline.Add((e.At, e.Kind == JournalEventKinds.Assessed ? "assessed" : $"{e.Kind}: {e.Detail}"));
        }

        foreach (var step in attempt.Steps)
        {
            timeline.Add((step.StartedAt, $"{step.Name}: {step.Status} ({step.Duration.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s)"));
        }

        // A plan's report holds its components' own steps too: one timeline for the whole incident.
        foreach (var component in attempt.Components.Where(c => c.AttemptId is not null))
        {
            foreach (var step in state.Journal.GetAttempts(component.TargetKey, component.AttemptId).SelectMany(a => a.Steps))
            {
                timeline.Add((step.StartedAt, $"{component.Name}: {step.Name}: {step.Status} ({step.Duration.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s)"));
            }
        }

        timeline.Add((attempt.CompletedAt, $"rollback {attempt.Outcome}"));
        report.Timeline.AddRange(timeline.OrderBy(t => t.At).Select(t => $"{t.At:yyyy-MM-dd HH:mm:ss.fff}Z {t.Text}"));
        return report;
    }

    /// <summary>A report file written whole; a read-only or full folder is reported by id, naming the file.</summary>
    private static void WriteFile(string path, string text)
    {
        try
        {
            AtomicFile.WriteAllText(path, text);
        }
        catch (Exception e) when (StateFaults.IsFileFault(e))
        {
            throw StateFaults.ForFile(path, "write the incident report", e);
        }
    }

    /// <summary>
    /// Writes reports/incident-&lt;attempt&gt;.md and .json; with extraPath, the Markdown goes there too (a folder
    /// gets incident-&lt;attempt&gt;.md) with the JSON beside it, and the returned paths are those.
    /// </summary>
    public static IncidentReport Write(StateRoot state, RollbackResult attempt, string? extraPath, bool html = false)
    {
        var markdownPath = System.IO.Path.Combine(state.ReportsDirectory, $"incident-{attempt.AttemptId}.md");
        var written = new JournalEvent(attempt.TargetKey, attempt.AttemptId, DateTimeOffset.UtcNow, JournalEventKinds.ReportWritten, markdownPath);
        var report = Build(state, attempt, written);
        string? extraMarkdown = null;
        if (extraPath is not null)
        {
            extraMarkdown = System.IO.Path.GetFullPath(extraPath);
            if (Directory.Exists(extraMarkdown))
            {
                extraMarkdown = System.IO.Path.Combine(extraMarkdown, $"incident-{attempt.AttemptId}.md");
            }

            if (!Directory.Exists(System.IO.Path.GetDirectoryName(extraMarkdown)))
            {
                throw new RollbackException(ErrorIds.ReportPathInvalid, RollbackErrorKind.InvalidArgument,
                    $"The folder of '{extraPath}' does not exist. Create it first, or pass a path in an existing folder.");
            }
        }

        report.MarkdownPath = extraMarkdown ?? markdownPath;
        report.JsonPath = System.IO.Path.ChangeExtension(report.MarkdownPath, ".json");
        var markdown = SecretRedactor.Redact(ToMarkdown(report, attempt));
        var json = SecretRedactor.Redact(JsonSerializer.Serialize(new { report, attempt }, ReportJson));
        var paths = new[] { markdownPath, extraMarkdown }.OfType<string>().ToList();
        foreach (var path in paths)
        {
            WriteFile(path, markdown);
            WriteFile(System.IO.Path.ChangeExtension(path, ".json"), json);
            Keep(state, path, ".md", ".json");
        }

        state.Journal.AddEvent(written);
        if (html)
        {
            var page = IncidentHtml.Render(state, report, attempt);
            report.HtmlPath = System.IO.Path.ChangeExtension(report.MarkdownPath, ".html");
            foreach (var path in paths)
            {
                WriteFile(System.IO.Path.ChangeExtension(path, ".html"), page);
                Keep(state, path, ".html");
            }
        }

        return report;
    }

    /// <summary>A report in the state's own folder goes to a shared store too (one elsewhere is the caller's copy).</summary>
    private static void Keep(StateRoot state, string path, params string[] extensions)
    {
        if (path.StartsWith(state.ReportsDirectory, StringComparison.Ordinal))
        {
            foreach (var extension in extensions)
            {
                SharedArtefacts.KeepFile(state, SharedArtefacts.Reports, System.IO.Path.ChangeExtension(path, extension));
            }
        }
    }

    public static string ToMarkdown(IncidentReport report, RollbackResult attempt)
    {
        var text = new StringBuilder();
        text.Append("# Incident report: ").Append(attempt.Strategy).Append(" rollback of ").Append(attempt.TargetKey).Append("\n\n");
        text.Append("| | |\n|---|---|\n");
        Row("Outcome", attempt.Outcome.ToString());
        Row("Attempt", $"{attempt.AttemptId} (attempt {attempt.AttemptNumber})");
        Row("Failed version", attempt.FromVersion ?? "unknown");
        Row("Rolled back to", attempt.ToVersion ?? "none");
        Row("Failure type", Describe(attempt.FailureType));
        Row("Started", attempt.StartedAt.ToString("u", CultureInfo.InvariantCulture));
        Row("Rollback duration", $"{attempt.Duration.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s");
        Row("Time to recovery", report.TimeToRecovery is { } ttr ? $"{ttr.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s" : "not recovered");
        Row("Checkpoint", attempt.CheckpointName ?? "none");
        if (attempt.Components.Count > 0)
        {
            text.Append("\n## Components\n\n| component | strategy | action | from | to | now | outcome |\n|---|---|---|---|---|---|---|\n");
            foreach (var c in attempt.Components)
            {
                text.Append("| ").AppendJoin(" | ", new[] { c.Name, c.Strategy, c.Action, c.FromVersion ?? "", c.ToVersion ?? "", c.VersionNow ?? "unknown", c.Outcome?.ToString() ?? c.Reason ?? "" }.Select(v => v.Replace("|", "\\|"))).Append(" |\n");
            }
        }

        text.Append("\n## What failed\n\n").Append(report.WhatFailed).Append("\n\n");
        text.Append("## Why it failed\n\n").Append(report.WhyItFailed).Append("\n\n");
        text.Append("## What was rolled back\n\n").Append(report.WhatWasRolledBack).Append("\n\n");
        foreach (var step in attempt.Steps)
        {
            text.Append("- ").Append(step.Name).Append(": ").Append(step.Status).Append(step.Message is null ? "" : " - " + step.Message).Append('\n');
        }

        text.Append("\n## Verification\n\n");
        if (attempt.Health is { } health)
        {
            foreach (var check in health.Checks)
            {
                text.Append("- Health check ").Append(check.Uri).Append(": ").Append(check.Passed ? "passed" : "failed").Append(" (").Append(check.Message).Append(")\n");
            }

            foreach (var smoke in health.SmokeTests)
            {
                text.Append("- Smoke test ").Append(smoke.Name).Append(": ").Append(smoke.Passed ? "passed" : "failed").Append('\n');
            }
        }
        else
        {
            text.Append("No health checks or smoke tests were run.\n");
        }

        text.Append("\n## Checklist\n\n");
        foreach (var section in report.Checklist.GroupBy(i => i.Section))
        {
            text.Append("### ").Append(section.Key).Append("\n\n");
            foreach (var item in section)
            {
                text.Append(item.ToString()).Append(string.IsNullOrEmpty(item.Evidence) ? "" : ": " + item.Evidence).Append('\n');
            }

            text.Append('\n');
        }

        text.Append("## Recommended fixes\n\n");
        for (var i = 0; i < report.RecommendedFixes.Count; i++)
        {
            text.Append(i + 1).Append(". ").Append(report.RecommendedFixes[i]).Append('\n');
        }

        text.Append("\n## Timeline (UTC)\n\n");
        foreach (var line in report.Timeline)
        {
            text.Append("- ").Append(line).Append('\n');
        }

        text.Append("\n## Changes undone\n\n");
        text.Append(attempt.Changes.Count == 0 ? "Not recorded.\n" : string.Concat(attempt.Changes.Select(c => $"- {c}\n")));
        return text.ToString();

        void Row(string name, string value) => text.Append("| ").Append(name).Append(" | ").Append(value.Replace("|", "\\|")).Append(" |\n");
    }

    private static IEnumerable<string> RecommendFixes(RollbackResult attempt)
    {
        switch (attempt.FailureType)
        {
            case FailureType.HealthCheckFailed:
                yield return $"Find why {attempt.FromVersion} fails its health check (see the checkpoint's logs) and fix it before redeploying.";
                yield return "Run the same health check in the pipeline before traffic reaches a new version.";
                break;
            case FailureType.SmokeTestFailed:
                yield return $"Reproduce the failing smoke test against {attempt.FromVersion} and add it to the pre-deployment test suite.";
                break;
            case FailureType.DeploymentNeverCompleted:
                yield return "Find why the deployment did not complete (timeouts, missing configuration, failed steps) and make the deployment fail fast on it.";
                break;
            case FailureType.UserReportedIssues:
                yield return "Turn the user's report into an automated smoke test so the next deployment catches it.";
                break;
            default:
                yield return "Identify the root cause (or create an investigation task): no failure type was recorded.";
                break;
        }

        if (attempt.Reason is { Length: > 0 } reason && reason.Contains("environment variable", StringComparison.OrdinalIgnoreCase))
        {
            yield return "Validate required environment variables in CI/CD before deploying.";
        }

        if (attempt.Outcome is RollbackOutcome.Failed or RollbackOutcome.Escalated)
        {
            yield return "The rollback itself did not succeed: restore service by hand from the checkpoint, then review the failed step.";
        }

        if (attempt.Verification == VerificationOutcome.NotRun)
        {
            yield return "Pass -HealthCheckUri and -SmokeTest to Invoke-Rollback so the rollback is verified, not assumed.";
        }

        yield return "Retry the deployment once the fix is in, and record the new version verified-good (Test-RollbackHealth -RecordVerified).";
    }

    internal static string Describe(FailureType type) => type switch
    {
        FailureType.DeploymentNeverCompleted => "the deployment never completed",
        FailureType.HealthCheckFailed => "the deployment completed but its health check failed",
        FailureType.SmokeTestFailed => "the deployment completed but smoke tests failed",
        FailureType.UserReportedIssues => "the deployment completed but users reported issues",
        _ => "the failure type is unknown",
    };
}
