using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>Recovery metrics from the journal: change failure rate, failed deployment recovery time, rollback success and escalation rates.</summary>
[Cmdlet(VerbsCommon.Get, "RollbackMetrics")]
[OutputType(typeof(RollbackMetrics), typeof(string))]
public sealed class GetRollbackMetricsCommand : RollbackCmdletBase
{
    /// <summary>Only attempts started, and versions recorded, at or after this time.</summary>
    [Parameter]
    public DateTime? Since { get; set; }

    /// <summary>Only this target (e.g. git:/srv/app or plan:shop).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? TargetKey { get; set; }

    /// <summary>Only this strategy's targets (Plan for plans).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Strategy { get; set; }

    /// <summary>One object per target (default), per strategy, or one for everything.</summary>
    [Parameter]
    [ValidateSet("Target", "Strategy", "All", IgnoreCase = true)]
    public string GroupBy { get; set; } = "Target";

    /// <summary>Objects (default); the Prometheus text format that node_exporter's textfile collector reads; or an HTML dashboard page.</summary>
    [Parameter]
    [ValidateSet("Object", "Prometheus", "Html", IgnoreCase = true)]
    public string Format { get; set; } = "Object";

    /// <summary>-Format Prometheus or Html: write the text to this file (whole, by rename) instead of the pipeline.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    protected override void ProcessRecord()
    {
        if (Path is not null && Format.Equals("Object", StringComparison.OrdinalIgnoreCase))
        {
            ThrowTerminatingError(ToErrorRecord(TargetBinding.ParameterNotForStrategy(nameof(Path), "-Format Prometheus or Html", $"-Format {Format}")));
        }

        var since = Since is { } local ? new DateTimeOffset(local.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(local, DateTimeKind.Local) : local) : (DateTimeOffset?)null;
        var grouping = Enum.Parse<RecoveryMetrics.Grouping>(GroupBy, ignoreCase: true);
        var (metrics, recoveries) = RunEngine(context => Task.FromResult((RecoveryMetrics.Compute(context.State.Journal, since, TargetKey, Strategy, grouping),
            Format.Equals("Html", StringComparison.OrdinalIgnoreCase) ? MetricsDashboard.Recoveries(context.State.Journal, since, TargetKey, Strategy) : null)));
        if (Format.Equals("Object", StringComparison.OrdinalIgnoreCase))
        {
            WriteObject(metrics, enumerateCollection: true);
            return;
        }

        var text = recoveries is null ? RecoveryMetrics.ToPrometheus(metrics) : MetricsDashboard.Render(metrics, recoveries, DateTimeOffset.UtcNow);
        if (Path is null)
        {
            WriteObject(text);
            return;
        }

        var file = ResolvePath(Path)!;
        RunEngine(context =>
        {
            try
            {
                AtomicFile.WriteAllText(file, text);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new RollbackException(ErrorIds.ReportPathInvalid, RollbackErrorKind.WriteError,
                    $"The metrics could not be written to {file}: {e.Message} Give a writable -Path.") { TargetName = file };
            }

            return Task.FromResult(true);
        });
        WriteObject(new FileInfo(file));
    }
}
