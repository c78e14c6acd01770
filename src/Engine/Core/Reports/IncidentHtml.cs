using System.Globalization;
using System.Text;
using static System.Net.WebUtility;

namespace DeploymentRollback.Engine;

/// <summary>
/// The incident report as one self-contained HTML page: inline CSS and SVG, no script, font or image from anywhere, so
/// it reads offline and attached to a ticket, prints, and follows the reader's light or dark theme. Every text is
/// redacted and HTML-encoded; the timeline marks carry data-mark attributes so the page can be checked by a browser.
/// </summary>
public static class IncidentHtml
{
    internal const string Style = """
        :root { --fg:#1b1f24; --bg:#ffffff; --muted:#57606a; --line:#d0d7de; --ok:#1a7f37; --bad:#cf222e; --warn:#9a6700; --accent:#0969da; --bar:#54aeff; }
        @media (prefers-color-scheme: dark) { :root { --fg:#e6edf3; --bg:#0d1117; --muted:#8d96a0; --line:#30363d; --ok:#3fb950; --bad:#f85149; --warn:#d29922; --accent:#4493f8; --bar:#1f6feb; } }
        body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); margin: 2rem auto; max-width: 1000px; padding: 0 1rem; }
        h1 { font-size: 1.5rem; margin: 0 0 .25rem; } h2 { font-size: 1.1rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; margin-top: 2rem; }
        .badge { display: inline-block; padding: .15rem .6rem; border-radius: 1rem; color: #fff; font-weight: 600; }
        .Succeeded { background: var(--ok); } .Failed, .Interrupted { background: var(--bad); } .Escalated { background: var(--warn); } .Skipped { background: var(--muted); }
        table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        .muted { color: var(--muted); } .pass { color: var(--ok); } .fail { color: var(--bad); } code { font-size: 90%; overflow-wrap: anywhere; }
        .times { display: flex; flex-wrap: wrap; gap: 1rem; } .times div { border: 1px solid var(--line); border-radius: .5rem; padding: .5rem .75rem; min-width: 8rem; }
        .times b { display: block; font-size: 1.2rem; }
        svg text { fill: var(--fg); font-size: 11px; } svg .axis { stroke: var(--line); } svg .bar { fill: var(--bar); } svg .bar.Failed, svg .bar.Cancelled { fill: var(--bad); }
        svg .mark { stroke: var(--accent); stroke-dasharray: 3 3; } svg .mark-failure { stroke: var(--bad); } svg .mark-verified { stroke: var(--ok); }
        @media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } table, svg { break-inside: avoid; } a { color: inherit; text-decoration: none; } }
        """;

    public static string Render(StateRoot state, IncidentReport report, RollbackResult attempt)
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">")
            .Append("<meta name=\"color-scheme\" content=\"light dark\">")
            .Append("<title>").Append(Text($"Incident {attempt.AttemptId}: {attempt.TargetKey}")).Append("</title><style>").Append(Style).Append("</style></head><body>");
        html.Append("<h1>Incident report: ").Append(Text($"{attempt.Strategy} rollback of {attempt.TargetKey}")).Append("</h1>");
        html.Append("<p><span class=\"badge ").Append(attempt.Outcome).Append("\" id=\"outcome\">").Append(attempt.Outcome).Append("</span> ")
            .Append("<span class=\"muted\">severity ").Append(Severity(attempt)).Append(" · attempt ").Append(Text(attempt.AttemptId))
            .Append(" (").Append(attempt.AttemptNumber.ToString(CultureInfo.InvariantCulture)).Append(") · ")
            .Append(Text(attempt.StartedAt.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture))).Append(" UTC</span></p>");

        var marks = Marks(state, attempt);
        Durations(html, marks, attempt);
        html.Append("<h2>What failed and why</h2><p>").Append(Text(report.WhatFailed)).Append("</p><p>").Append(Text(report.WhyItFailed)).Append("</p>");
        html.Append("<p>").Append(Text(report.WhatWasRolledBack)).Append("</p>");
        Components(html, attempt);
        Timeline(html, state, marks, attempt);
        Attempts(html, state, attempt);
        Checks(html, attempt.Health);
        html.Append("<h2>Checklist</h2><table id=\"checklist\">");
        foreach (var item in report.Checklist)
        {
            html.Append("<tr><td class=\"").Append(item.Done ? "pass\">✔" : "muted\">☐").Append("</td><td>").Append(Text(item.Section)).Append("</td><td>")
                .Append(Text(item.Item)).Append("</td><td class=\"muted\">").Append(Text(item.Evidence ?? "")).Append("</td></tr>");
        }

        html.Append("</table>");
        Checkpoint(html, state, attempt);
        html.Append("<h2>Recommended fixes</h2><ol>");
        foreach (var fix in report.RecommendedFixes)
        {
            html.Append("<li>").Append(Text(fix)).Append("</li>");
        }

        html.Append("</ol><p class=\"muted\">Written by DeploymentRollback at ").Append(Text(report.GeneratedAt.ToUniversalTime().ToString("u", CultureInfo.InvariantCulture))).Append(".</p></body></html>");
        return html.ToString();
    }

    /// <summary>The moments of the incident the journal knows, in order; each a name the page marks it by.</summary>
    private static List<(string Id, string Label, DateTimeOffset At)> Marks(StateRoot state, RollbackResult attempt)
    {
        var marks = new List<(string, string, DateTimeOffset)>();
        if (attempt.FailureDetectedAt is { } detected)
        {
            marks.Add(("failure", "first failure signal", detected));
        }

        var decided = state.Journal.GetEvents(attempt.TargetKey, attempt.FailureDetectedAt ?? attempt.StartedAt.AddHours(-1))
            .LastOrDefault(e => e.Kind == JournalEventKinds.Assessed && e.At <= attempt.StartedAt);
        if (decided is not null)
        {
            marks.Add(("decision", "decision (assessed)", decided.At));
        }

        marks.Add(("started", "ROLLBACK_STARTED", attempt.StartedAt));
        if (attempt.Health is { Healthy: true } health && attempt.Verification == VerificationOutcome.Passed)
        {
            marks.Add(("verified", "verified healthy", health.CheckedAt));
        }

        marks.Add(("complete", attempt.Outcome == RollbackOutcome.Succeeded ? "ROLLBACK_COMPLETE" : "ROLLBACK_FAILED", attempt.CompletedAt));
        return marks.OrderBy(m => m.Item3).ToList();
    }

    private static void Durations(StringBuilder html, List<(string Id, string Label, DateTimeOffset At)> marks, RollbackResult attempt)
    {
        DateTimeOffset? At(string id) => marks.FirstOrDefault(m => m.Id == id) is { Label: not null } m ? m.At : null;
        var verifyStep = attempt.Steps.Where(s => s.Name.StartsWith("Verify", StringComparison.Ordinal)).Select(s => (DateTimeOffset?)s.StartedAt).FirstOrDefault();
        var lastStepEnd = attempt.Steps.Count == 0 ? (DateTimeOffset?)null : attempt.Steps.Max(s => s.StartedAt + s.Duration);
        var items = new (string Id, string Label, TimeSpan? Value)[]
        {
            ("to-decide", "to decide", At("decision") - At("failure")),
            ("to-roll-back", "to roll back", lastStepEnd - attempt.StartedAt),
            ("to-verify", "to verify", At("verified") - (lastStepEnd ?? attempt.StartedAt)),
            ("to-recovery", "to recovery", attempt.TimeToRecovery),
            ("duration", "rollback duration", attempt.Duration),
        };
        html.Append("<h2>Times</h2><div class=\"times\">");
        foreach (var (id, label, value) in items)
        {
            html.Append("<div data-duration=\"").Append(id).Append("\"><b>").Append(value is { } v && v >= TimeSpan.Zero ? Seconds(v) : "–").Append("</b>").Append(label).Append("</div>");
        }

        html.Append("</div>");
    }

    private static void Components(StringBuilder html, RollbackResult attempt)
    {
        html.Append("<h2>From → to</h2><table id=\"components\"><tr><th>Component</th><th>Strategy</th><th>Action</th><th>From</th><th>To</th><th>Now</th></tr>");
        if (attempt.Components.Count == 0)
        {
            html.Append("<tr data-component=\"").Append(Text(attempt.TargetKey)).Append("\"><td>").Append(Text(attempt.TargetKey)).Append("</td><td>").Append(Text(attempt.Strategy))
                .Append("</td><td>").Append(attempt.Outcome).Append("</td><td><code>").Append(Text(attempt.FromVersion ?? "unknown")).Append("</code></td><td><code>")
                .Append(Text(attempt.ToVersion ?? "none")).Append("</code></td><td></td></tr>");
        }

        foreach (var c in attempt.Components)
        {
            html.Append("<tr data-component=\"").Append(Text(c.Name)).Append("\"><td>").Append(Text(c.Name)).Append("</td><td>").Append(Text(c.Strategy)).Append("</td><td>")
                .Append(Text(c.Action)).Append("<br><span class=\"muted\">").Append(Text(c.Reason ?? "")).Append("</span></td><td><code>").Append(Text(c.FromVersion ?? "")).Append("</code></td><td><code>")
                .Append(Text(c.ToVersion ?? "")).Append("</code></td><td><code>").Append(Text(c.VersionNow ?? "unknown")).Append("</code></td></tr>");
        }

        html.Append("</table>");
    }

    /// <summary>An SVG time line: the incident's marks, and one lane of step bars per component (one for a single target).</summary>
    private static void Timeline(StringBuilder html, StateRoot state, List<(string Id, string Label, DateTimeOffset At)> marks, RollbackResult attempt)
    {
        var lanes = new List<(string Name, IReadOnlyList<StepResult> Steps)>();
        foreach (var c in attempt.Components.Where(c => c.AttemptId is not null))
        {
            lanes.Add((c.Name, state.Journal.GetAttempts(c.TargetKey, c.AttemptId).SelectMany(a => a.Steps).ToList()));
        }

        lanes.Add((attempt.Components.Count > 0 ? "service" : attempt.Strategy, attempt.Components.Count > 0 ? attempt.Steps.Where(s => s.Name.StartsWith("Restart", StringComparison.Ordinal)).ToList() : attempt.Steps));
        var all = lanes.SelectMany(l => l.Steps).Select(s => s.StartedAt).Concat(marks.Select(m => m.At)).ToList();
        var start = all.Min();
        var end = lanes.SelectMany(l => l.Steps).Select(s => s.StartedAt + s.Duration).Concat(marks.Select(m => m.At)).Max();
        var span = Math.Max((end - start).TotalMilliseconds, 1);
        const double left = 120, width = 820, laneHeight = 26, top = 46;
        var height = top + lanes.Count * laneHeight + 20;
        double X(DateTimeOffset at) => left + width * (at - start).TotalMilliseconds / span;
        html.Append("<h2>Timeline</h2><svg id=\"timeline\" role=\"img\" aria-label=\"Timeline of the incident\" viewBox=\"0 0 960 ")
            .Append(Num(height)).Append("\" width=\"100%\">");
        html.Append("<line class=\"axis\" x1=\"").Append(Num(left)).Append("\" y1=\"").Append(Num(height - 14)).Append("\" x2=\"").Append(Num(left + width)).Append("\" y2=\"").Append(Num(height - 14)).Append("\"/>");
        for (var i = 0; i < lanes.Count; i++)
        {
            var y = top + i * laneHeight;
            html.Append("<g data-lane=\"").Append(Text(lanes[i].Name)).Append("\"><text x=\"4\" y=\"").Append(Num(y + 15)).Append("\">").Append(Text(Cut(lanes[i].Name, 18))).Append("</text>");
            foreach (var step in lanes[i].Steps)
            {
                var x = X(step.StartedAt);
                var w = Math.Max(2, X(step.StartedAt + step.Duration) - x);
                html.Append("<rect class=\"bar ").Append(step.Status).Append("\" data-step=\"").Append(Text(step.Name)).Append("\" x=\"").Append(Num(x)).Append("\" y=\"").Append(Num(y + 4))
                    .Append("\" width=\"").Append(Num(w)).Append("\" height=\"16\" rx=\"3\"><title>").Append(Text($"{step.Name}: {step.Status}, {Seconds(step.Duration)}")).Append("</title></rect>");
            }

            html.Append("</g>");
        }

        for (var i = 0; i < marks.Count; i++)
        {
            var x = X(marks[i].At);
            // Labels near the right end are written leftwards of their line; three rows keep close marks apart.
            var leftwards = x > left + width * 0.7;
            html.Append("<g data-mark=\"").Append(marks[i].Id).Append("\"><line class=\"mark mark-").Append(marks[i].Id).Append("\" x1=\"").Append(Num(x)).Append("\" y1=\"").Append(Num(top - 4)).Append("\" x2=\"").Append(Num(x))
                .Append("\" y2=\"").Append(Num(height - 14)).Append("\"/><text x=\"").Append(Num(leftwards ? x - 3 : x + 3)).Append("\" y=\"").Append(Num(10 + (i % 3) * 11)).Append("\"")
                .Append(leftwards ? " text-anchor=\"end\"" : "").Append('>').Append(Text(marks[i].Label)).Append("</text></g>");
        }

        html.Append("<text x=\"").Append(Num(left)).Append("\" y=\"").Append(Num(height - 2)).Append("\">").Append(Text(start.ToUniversalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture)))
            .Append(" UTC</text><text x=\"").Append(Num(left + width - 60)).Append("\" y=\"").Append(Num(height - 2)).Append("\">+").Append(Seconds(end - start)).Append("</text></svg>");
        html.Append("<table id=\"steps\"><tr><th>Lane</th><th>Step</th><th>Status</th><th>Duration</th><th>Message</th></tr>");
        foreach (var (lane, steps) in lanes)
        {
            foreach (var step in steps)
            {
                html.Append("<tr><td>").Append(Text(lane)).Append("</td><td>").Append(Text(step.Name)).Append("</td><td class=\"").Append(step.Status == StepStatus.Failed ? "fail" : "pass").Append("\">")
                    .Append(step.Status).Append("</td><td>").Append(Seconds(step.Duration)).Append("</td><td class=\"muted\">").Append(Text(step.Message ?? "")).Append("</td></tr>");
            }
        }

        html.Append("</table>");
    }

    private static void Attempts(StringBuilder html, StateRoot state, RollbackResult attempt)
    {
        html.Append("<h2>Attempts and escalation</h2><table id=\"attempts\"><tr><th>Started (UTC)</th><th>Attempt</th><th>Outcome</th><th>From → to</th><th>Message</th></tr>");
        foreach (var a in state.Journal.GetAttempts(attempt.TargetKey, limit: 20).Where(a => a.StartedAt <= attempt.CompletedAt.AddMinutes(1)))
        {
            html.Append("<tr").Append(a.AttemptId == attempt.AttemptId ? " data-current=\"true\"" : "").Append("><td>").Append(Text(a.StartedAt.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)))
                .Append("</td><td>").Append(Text(a.AttemptId)).Append("</td><td><span class=\"badge ").Append(a.Outcome).Append("\">").Append(a.Outcome).Append("</span></td><td><code>")
                .Append(Text($"{a.FromVersion} → {a.ToVersion}")).Append("</code></td><td class=\"muted\">").Append(Text(a.Message ?? "")).Append("</td></tr>");
        }

        html.Append("</table>");
    }

    private static void Checks(StringBuilder html, HealthReport? health)
    {
        html.Append("<h2>Health checks and smoke tests</h2>");
        if (health is null)
        {
            html.Append("<p class=\"muted\">None was run.</p>");
            return;
        }

        html.Append("<table id=\"checks\"><tr><th>Check</th><th>Result</th><th>Detail</th></tr>");
        foreach (var check in health.Checks)
        {
            html.Append("<tr><td><code>").Append(Text(check.Uri)).Append("</code></td><td class=\"").Append(check.Passed ? "pass\">passed" : "fail\">failed").Append("</td><td>").Append(Text(check.Message ?? "")).Append("</td></tr>");
        }

        foreach (var smoke in health.SmokeTests)
        {
            html.Append("<tr><td>smoke test ").Append(Text(smoke.Name)).Append("</td><td class=\"").Append(smoke.Passed ? "pass\">passed" : "fail\">failed").Append("</td><td></td></tr>");
        }

        html.Append("</table>");
    }

    /// <summary>The checkpoint's artefacts as links to the files beside the state (relative to nothing online).</summary>
    private static void Checkpoint(StringBuilder html, StateRoot state, RollbackResult attempt)
    {
        html.Append("<h2>Checkpoint</h2>");
        var names = attempt.Components.Count > 0 ? attempt.Components.Where(c => c.CheckpointName is not null).Select(c => c.CheckpointName!).ToList()
            : attempt.CheckpointName is null ? new List<string>() : new List<string> { attempt.CheckpointName };
        if (names.Count == 0)
        {
            html.Append("<p class=\"muted\">No checkpoint was made.</p>");
            return;
        }

        html.Append("<ul id=\"checkpoint\">");
        foreach (var name in names)
        {
            var folder = System.IO.Path.Combine(state.CheckpointsDirectory, name);
            html.Append("<li>").Append(Text(name));
            if (Directory.Exists(folder))
            {
                html.Append(": ").Append(string.Join(", ", Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal)
                    .Select(f => $"<a href=\"{Text(new Uri(f).AbsoluteUri)}\">{Text(System.IO.Path.GetFileName(f))}</a>")));
            }

            html.Append("</li>");
        }

        html.Append("</ul>");
    }

    private static string Severity(RollbackResult attempt) => attempt.Outcome switch
    {
        RollbackOutcome.Escalated or RollbackOutcome.Interrupted => "critical (a person must act)",
        RollbackOutcome.Failed => "high (not recovered)",
        RollbackOutcome.Succeeded when attempt.Verification == VerificationOutcome.Passed => "resolved",
        _ => "unverified",
    };

    /// <summary>Text for a page: redacted, then HTML-encoded (shared with the metrics dashboard).</summary>
    internal static string Text(string text) => HtmlEncode(SecretRedactor.Redact(text));

    internal static string Seconds(TimeSpan value) => value.TotalSeconds.ToString(value.TotalSeconds < 10 ? "0.00" : "0.0", CultureInfo.InvariantCulture) + " s";

    internal static string Num(double value) => value.ToString("0.#", CultureInfo.InvariantCulture);

    private static string Cut(string text, int length) => text.Length <= length ? text : text[..(length - 1)] + "…";
}
