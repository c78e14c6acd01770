using System.Globalization;
using System.Text;

namespace DeploymentRollback.Engine;

/// <summary>
/// DORA-style recovery figures from the journal: deployments seen, failed ones, change failure rate, recovery time
/// (first failure signal to verified healthy, as each attempt recorded it), rollback success and escalation rates.
/// </summary>
public static class RecoveryMetrics
{
    public enum Grouping
    {
        Target,
        Strategy,
        All,
    }

    public static IReadOnlyList<RollbackMetrics> Compute(Journal journal, DateTimeOffset? since, string? targetKey, string? strategy, Grouping grouping)
    {
        var attempts = journal.GetAttempts(targetKey, since: since, limit: int.MaxValue)
            .Where(a => strategy is null || a.Strategy.Equals(strategy, StringComparison.OrdinalIgnoreCase)).ToList();
        var verified = journal.GetVerified(targetKey, limit: int.MaxValue)
            .Where(v => (since is null || v.RecordedAt >= since) && (strategy is null || v.Strategy.Equals(strategy, StringComparison.OrdinalIgnoreCase))).ToList();

        string KeyOf(string target, string kind) => grouping switch { Grouping.Target => target, Grouping.Strategy => kind, _ => "all" };
        var scopes = attempts.Select(a => KeyOf(a.TargetKey, a.Strategy)).Concat(verified.Select(v => KeyOf(v.TargetKey, v.Strategy)))
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        return scopes.Select(scope => Of(scope, grouping, since,
            attempts.Where(a => KeyOf(a.TargetKey, a.Strategy) == scope).ToList(),
            verified.Where(v => KeyOf(v.TargetKey, v.Strategy) == scope).ToList())).ToList();
    }

    private static RollbackMetrics Of(string scope, Grouping grouping, DateTimeOffset? since, IReadOnlyList<RollbackResult> attempts, IReadOnlyList<VerifiedVersion> verified)
    {
        // A version is one per target: the same tag on two targets is two deployments.
        var failed = attempts.Where(a => a.Outcome != RollbackOutcome.Skipped && a.FromVersion is not null && a.FromVersion != a.ToVersion)
            .Select(a => (a.TargetKey, Version: a.FromVersion!)).ToHashSet();
        var seen = verified.Select(v => (v.TargetKey, v.Version)).Concat(failed).ToHashSet();
        var rollbacks = attempts.Where(a => a.Outcome != RollbackOutcome.Skipped).ToList();
        var succeeded = rollbacks.Count(a => a.Outcome == RollbackOutcome.Succeeded);
        var escalated = rollbacks.Count(a => a.Outcome == RollbackOutcome.Escalated);
        var recoveries = rollbacks.Where(a => a.TimeToRecovery is not null).Select(a => a.TimeToRecovery!.Value).Order().ToList();
        return new RollbackMetrics
        {
            Scope = scope,
            GroupedBy = grouping.ToString(),
            Since = since,
            Deployments = seen.Count,
            FailedDeployments = failed.Count,
            ChangeFailureRate = Ratio(failed.Count, seen.Count),
            Rollbacks = rollbacks.Count,
            SucceededRollbacks = succeeded,
            RollbackSuccessRate = Ratio(succeeded, rollbacks.Count),
            AutomaticRollbacks = rollbacks.Count(a => a.Initiator is not null),
            ManualRollbacks = rollbacks.Count(a => a.Initiator is null),
            Escalations = escalated,
            EscalationRate = Ratio(escalated, rollbacks.Count),
            Recoveries = recoveries.Count,
            RecoveryTimeMedian = Percentile(recoveries, 0.5),
            RecoveryTimeP90 = Percentile(recoveries, 0.9),
            RecoveryTimeWorst = recoveries.Count == 0 ? null : recoveries[^1],
        };
    }

    private static double? Ratio(int part, int whole) => whole == 0 ? null : Math.Round((double)part / whole, 4);

    /// <summary>The nearest-rank percentile (the median of an even count is the mean of the middle two).</summary>
    private static TimeSpan? Percentile(IReadOnlyList<TimeSpan> sorted, double p)
    {
        if (sorted.Count == 0)
        {
            return null;
        }

        if (p == 0.5 && sorted.Count % 2 == 0)
        {
            return (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
        }

        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    /// <summary>
    /// The figures in the Prometheus text exposition format, as node_exporter's textfile collector reads it (write the
    /// file whole, by rename, into its --collector.textfile.directory).
    /// </summary>
    public static string ToPrometheus(IReadOnlyList<RollbackMetrics> metrics)
    {
        var text = new StringBuilder();
        void Family(string name, string type, string help, Func<RollbackMetrics, IEnumerable<(string Labels, double? Value)>> values)
        {
            var rows = metrics.SelectMany(m => values(m).Where(v => v.Value is not null)
                .Select(v => (Labels: string.Join(",", new[] { Label(m), v.Labels }.Where(l => l.Length > 0)), v.Value!.Value))).ToList();
            if (rows.Count == 0)
            {
                return;
            }

            text.Append("# HELP deployment_rollback_").Append(name).Append(' ').Append(help).Append('\n');
            text.Append("# TYPE deployment_rollback_").Append(name).Append(' ').Append(type).Append('\n');
            foreach (var (labels, value) in rows)
            {
                text.Append("deployment_rollback_").Append(name).Append(labels.Length == 0 ? "" : "{" + labels + "}").Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
            }
        }

        Family("deployments", "gauge", "Distinct versions recorded verified-good or rolled back from.", m => new[] { ("", (double?)m.Deployments) });
        Family("failed_deployments", "gauge", "Distinct versions a rollback set out to leave.", m => new[] { ("", (double?)m.FailedDeployments) });
        Family("change_failure_ratio", "gauge", "Failed deployments over deployments.", m => new[] { ("", m.ChangeFailureRate) });
        Family("rollbacks", "gauge", "Rollback attempts (Skipped ones left out), by outcome.", m => new[] { ("outcome=\"succeeded\"", (double?)m.SucceededRollbacks), ("outcome=\"escalated\"", m.Escalations), ("outcome=\"other\"", m.Rollbacks - m.SucceededRollbacks - m.Escalations) });
        Family("rollbacks_by_initiator", "gauge", "Rollback attempts (Skipped ones left out), automatic (a watcher or an alert listener) or manual.", m => new[] { ("initiator=\"automatic\"", (double?)m.AutomaticRollbacks), ("initiator=\"manual\"", m.ManualRollbacks) });
        Family("rollback_success_ratio", "gauge", "Succeeded rollbacks over rollbacks.", m => new[] { ("", m.RollbackSuccessRate) });
        Family("escalation_ratio", "gauge", "Escalated rollbacks over rollbacks.", m => new[] { ("", m.EscalationRate) });
        Family("recovery_seconds", "gauge", "Time from the first failure signal to verified healthy, over the recoveries.",
            m => new[] { ("quantile=\"0.5\"", m.RecoveryTimeMedian?.TotalSeconds), ("quantile=\"0.9\"", m.RecoveryTimeP90?.TotalSeconds), ("quantile=\"1\"", m.RecoveryTimeWorst?.TotalSeconds) });
        Family("recoveries", "gauge", "Succeeded, verified rollbacks with a time to recovery.", m => new[] { ("", (double?)m.Recoveries) });
        return text.ToString();
    }

    private static string Label(RollbackMetrics m) => m.GroupedBy == nameof(Grouping.All) ? "" : $"{m.GroupedBy.ToLowerInvariant()}=\"{Escape(m.Scope)}\"";

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
