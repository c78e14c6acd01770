using System.Collections;
using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>
/// Watches a target or a plan (health checks, smoke tests, Prometheus queries) and rolls it back when it is really
/// failing: once per failed version, with a cooldown, never on the probes' own errors.
/// </summary>
[Cmdlet(VerbsCommon.Watch, "RollbackTarget", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(WatchReport), typeof(RollbackResult))]
public sealed class WatchRollbackTargetCommand : AutomaticCmdletBase
{
    /// <summary>The Prometheus server the queries go to, e.g. http://127.0.0.1:9090.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? PrometheusUri { get; set; }

    /// <summary>PromQL with what passing means at its end ('expr &lt; 0.05'), or @{ Query = '...'; Name = 'error ratio' }.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public object[] PrometheusQuery { get; set; } = Array.Empty<object>();

    /// <summary>Seconds between rounds of measurements.</summary>
    [Parameter]
    [ValidateRange(0.1, 86400)]
    public double IntervalSec { get; set; } = 10;

    /// <summary>Seconds to wait before the first measurement (warm-up after a deployment, and after the watcher's own rollback).</summary>
    [Parameter]
    [ValidateRange(0, 86400)]
    public double InitialDelaySec { get; set; }

    /// <summary>This many failed rounds in a row trigger the rollback.</summary>
    [Parameter]
    [ValidateRange(1, 1000)]
    public int FailureLimit { get; set; } = 3;

    /// <summary>The N of an M-of-N rule: the last N rounds are counted (with -FailuresInWindow).</summary>
    [Parameter]
    [ValidateRange(1, 1000)]
    public int Window { get; set; }

    /// <summary>The M of an M-of-N rule: this many failed rounds among the last -Window rounds trigger.</summary>
    [Parameter]
    [ValidateRange(1, 1000)]
    public int FailuresInWindow { get; set; }

    /// <summary>This many rounds in a row where a probe itself failed (Prometheus down, DNS) pause the watcher; never a rollback.</summary>
    [Parameter]
    [ValidateRange(1, 1000)]
    public int ConsecutiveErrorLimit { get; set; } = 4;

    /// <summary>A query that returns no value: Ignore (default), Fail, or Inconclusive (pause and ask for a person).</summary>
    [Parameter]
    [ValidateSet("Ignore", "Fail", "Inconclusive", IgnoreCase = true)]
    public string NoData { get; set; } = "Ignore";

    /// <summary>Evaluate one window (enough rounds to decide), act if it calls for it, and return: for scheduled runbooks.</summary>
    [Parameter]
    public SwitchParameter Once { get; set; }

    /// <summary>How many measurements of the target the journal keeps.</summary>
    [Parameter]
    [ValidateRange(10, 1000000)]
    public int KeepMeasurements { get; set; } = 500;

    protected override void ProcessRecord()
    {
        var (action, checks) = BuildAutomatic();
        WatchOptions options;
        try
        {
            options = new WatchOptions
            {
                Checks = checks,
                Queries = PrometheusQuery.Select(ToQuery).ToList(),
                PrometheusUri = PrometheusUri is null ? null : WatchOptions.ParsePrometheusUri(PrometheusUri),
                Interval = TimeSpan.FromSeconds(IntervalSec),
                InitialDelay = TimeSpan.FromSeconds(InitialDelaySec),
                Duration = Duration,
                FailureLimit = FailureLimit,
                Window = Window,
                FailuresInWindow = FailuresInWindow,
                ConsecutiveErrorLimit = ConsecutiveErrorLimit,
                NoData = Enum.Parse<NoDataPolicy>(NoData, ignoreCase: true),
                Cooldown = TimeSpan.FromSeconds(CooldownSec),
                // -WhatIf measures and says what it would do, and records nothing.
                DryRun = DryRun || IsWhatIf,
                Record = !IsWhatIf,
                Once = Once,
                KeepMeasurements = KeepMeasurements,
            };
            options.Validate();
        }
        catch (RollbackException e)
        {
            ThrowTerminatingError(ToErrorRecord(e));
            return;
        }

        var report = RunUntilStopped((context, stop) =>
            new Watcher(action(context) ?? throw new InvalidOperationException("A watcher always names a target."), options, context, WriteObjectFromEngine).RunAsync(stop));
        if (report.Paused)
        {
            WriteWarning($"The watch of {report.TargetKey} ended paused: {report.Decisions.LastOrDefault()?.Reason}");
        }

        WriteObject(report);
    }

    private static PrometheusQuery ToQuery(object value)
    {
        value = value is PSObject wrapped ? wrapped.BaseObject : value;
        if (value is IDictionary table)
        {
            var text = table["Query"]?.ToString();
            if (string.IsNullOrWhiteSpace(text))
            {
                throw new RollbackException(ErrorIds.WatchQueryInvalid, RollbackErrorKind.InvalidArgument,
                    "A -PrometheusQuery hashtable needs Query, e.g. @{ Query = 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[1m]))) < 0.3'; Name = 'p95 latency' }.");
            }

            return Engine.PrometheusQuery.Parse(text, table["Name"]?.ToString());
        }

        return Engine.PrometheusQuery.Parse(value.ToString() ?? "");
    }
}
