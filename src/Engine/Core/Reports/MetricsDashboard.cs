using System.Globalization;
using System.Text;
using static DeploymentRollback.Engine.IncidentHtml;

namespace DeploymentRollback.Engine;

/// <summary>
/// Get-RollbackMetrics -Format Html: one self-contained page (the incident page's style: inline CSS and SVG, no script
/// or network, light and dark, printable) with the figures per scope, the recovery time of every incident over time,
/// and the change failure rate per scope.
/// </summary>
public static class MetricsDashboard
{
    /// <summary>One recovery: which target, when it was verified recovered, and how long it took from the first failure signal.</summary>
    public sealed record Recovery(string TargetKey, DateTimeOffset At, TimeSpan Took);

    public static IReadOnlyList<Recovery> Recoveries(Journal journal, DateTimeOffset? since, string? targetKey, string? strategy) =>
        journal.GetAttempts(targetKey, since: since, limit: int.MaxValue)
            .Where(a => a.TimeToRecovery is not null && (strategy is null || a.Strategy.Equals(strategy, StringComparison.OrdinalIgnoreCase)))
            .Select(a => new Recovery(a.TargetKey, a.CompletedAt, a.TimeToRecovery!.Value)).OrderBy(r => r.At).ToList();

    public static string Render(IReadOnlyList<RollbackMetrics> metrics, IReadOnlyList<Recovery> recoveries, DateTimeOffset generatedAt)
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><meta name=\"color-scheme\" content=\"light dark\">")
            .Append("<title>Rollback metrics</title><style>").Append(IncidentHtml.Style).Append("</style></head><body><h1>Rollback metrics</h1>")
            .Append("<p class=\"muted\">").Append(metrics.Count.ToString(CultureInfo.InvariantCulture)).Append(" scope(s), ").Append(recoveries.Count.ToString(CultureInfo.InvariantCulture))
            .Append(" recoveries · written ").Append(Text(generatedAt.ToUniversalTime().ToString("u", CultureInfo.InvariantCulture))).Append("</p>");

        html.Append("<h2>Figures</h2><table id=\"metrics\"><tr><th>Scope</th><th>Deployments</th><th>Failed</th><th>Change failure rate</th><th>Recovery p50 / p90 / worst</th><th>Rollbacks succeeded</th><th>Automatic / manual</th><th>Escalations</th></tr>");
        foreach (var m in metrics)
        {
            html.Append("<tr data-scope=\"").Append(Text(m.Scope)).Append("\"><td>").Append(Text(m.Scope)).Append("</td><td>").Append(m.Deployments).Append("</td><td>").Append(m.FailedDeployments)
                .Append("</td><td>").Append(Percent(m.ChangeFailureRate)).Append("</td><td>")
                .Append(m.Recoveries == 0 ? "–" : string.Join(" / ", new[] { m.RecoveryTimeMedian, m.RecoveryTimeP90, m.RecoveryTimeWorst }.Select(t => Seconds(t!.Value))))
                .Append("</td><td>").Append(m.SucceededRollbacks).Append(" of ").Append(m.Rollbacks).Append("</td><td>").Append(m.AutomaticRollbacks).Append(" / ").Append(m.ManualRollbacks).Append("</td><td>").Append(m.Escalations).Append("</td></tr>");
        }

        html.Append("</table>");
        RecoveryChart(html, recoveries);
        FailureRateChart(html, metrics);
        html.Append("</body></html>");
        return html.ToString();
    }

    /// <summary>Every recovery as a point: when it ended (x) and how long it took (y).</summary>
    private static void RecoveryChart(StringBuilder html, IReadOnlyList<Recovery> recoveries)
    {
        html.Append("<h2>Recovery time per incident</h2>");
        if (recoveries.Count == 0)
        {
            html.Append("<p class=\"muted\">No verified recovery in this window.</p>");
            return;
        }

        const double left = 60, width = 860, top = 10, height = 220;
        var first = recoveries[0].At;
        var span = Math.Max((recoveries[^1].At - first).TotalSeconds, 1);
        var worst = Math.Max(recoveries.Max(r => r.Took.TotalSeconds), 0.001);
        html.Append("<svg id=\"recovery-chart\" role=\"img\" aria-label=\"Recovery time per incident\" viewBox=\"0 0 960 260\" width=\"100%\">")
            .Append("<line class=\"axis\" x1=\"60\" y1=\"230\" x2=\"920\" y2=\"230\"/><line class=\"axis\" x1=\"60\" y1=\"10\" x2=\"60\" y2=\"230\"/>")
            .Append("<text x=\"4\" y=\"16\">").Append(Seconds(TimeSpan.FromSeconds(worst))).Append("</text><text x=\"4\" y=\"230\">0 s</text>")
            .Append("<text x=\"60\" y=\"252\">").Append(Text(first.ToUniversalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture))).Append(" UTC</text>")
            .Append("<text x=\"920\" y=\"252\" text-anchor=\"end\">").Append(Text(recoveries[^1].At.ToUniversalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture))).Append(" UTC</text>");
        foreach (var r in recoveries)
        {
            var x = left + width * (r.At - first).TotalSeconds / span;
            var y = top + height - height * r.Took.TotalSeconds / worst;
            html.Append("<circle class=\"point\" data-recovery=\"").Append(Text(r.TargetKey)).Append("\" cx=\"").Append(Num(x)).Append("\" cy=\"").Append(Num(y)).Append("\" r=\"4\" fill=\"var(--accent)\"><title>")
                .Append(Text($"{r.TargetKey}: {Seconds(r.Took)} at {r.At.ToUniversalTime():u}")).Append("</title></circle>");
        }

        html.Append("</svg>");
    }

    /// <summary>The change failure rate of each scope as a bar.</summary>
    private static void FailureRateChart(StringBuilder html, IReadOnlyList<RollbackMetrics> metrics)
    {
        var rated = metrics.Where(m => m.ChangeFailureRate is not null).ToList();
        html.Append("<h2>Change failure rate</h2>");
        if (rated.Count == 0)
        {
            html.Append("<p class=\"muted\">No deployment seen in this window.</p>");
            return;
        }

        const double left = 300, width = 560, row = 22;
        html.Append("<svg id=\"failure-rate-chart\" role=\"img\" aria-label=\"Change failure rate per scope\" viewBox=\"0 0 960 ").Append(Num(rated.Count * row + 10)).Append("\" width=\"100%\">");
        for (var i = 0; i < rated.Count; i++)
        {
            var y = 4 + i * row;
            var rate = rated[i].ChangeFailureRate!.Value;
            html.Append("<g data-rate=\"").Append(Text(rated[i].Scope)).Append("\"><text x=\"").Append(Num(left - 6)).Append("\" y=\"").Append(Num(y + 13)).Append("\" text-anchor=\"end\">")
                .Append(Text(Cut(rated[i].Scope, 44))).Append("</text><rect class=\"bar").Append(rate > 0.15 ? " Failed" : "").Append("\" x=\"").Append(Num(left)).Append("\" y=\"").Append(Num(y))
                .Append("\" width=\"").Append(Num(Math.Max(1, width * rate))).Append("\" height=\"16\" rx=\"3\"/><text x=\"").Append(Num(left + width * rate + 6)).Append("\" y=\"").Append(Num(y + 13)).Append("\">")
                .Append(Percent(rate)).Append("</text></g>");
        }

        html.Append("</svg>");
    }

    private static string Percent(double? rate) => rate is null ? "–" : rate.Value.ToString("P0", CultureInfo.InvariantCulture);

    private static string Cut(string text, int length) => text.Length <= length ? text : "…" + text[^(length - 1)..];
}
