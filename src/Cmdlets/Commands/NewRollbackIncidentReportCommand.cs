using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>Writes the incident report of a rollback attempt as Markdown and JSON.</summary>
[Cmdlet(VerbsCommon.New, "RollbackIncidentReport", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(IncidentReport))]
public sealed class NewRollbackIncidentReportCommand : RollbackCmdletBase
{
    /// <summary>The attempt to report on; the newest attempt (of -TargetKey, if given) when not given.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? AttemptId { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? TargetKey { get; set; }

    /// <summary>A service's plan (a rollback.psd1 path or a hashtable): its newest plan attempt, when no -AttemptId is given.</summary>
    [Parameter]
    [ValidateNotNull]
    public object? Plan { get; set; }

    /// <summary>Where to write the Markdown report (the JSON goes beside it); the state directory's reports/ folder when not given.</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>Markdown and JSON (default), or also a self-contained HTML page with a timeline (Html).</summary>
    [Parameter]
    [ValidateSet("Markdown", "Html", IgnoreCase = true)]
    public string Format { get; set; } = "Markdown";

    protected override void ProcessRecord()
    {
        if (Plan is not null)
        {
            TargetKey = ReadPlan(Plan, null).TargetKey;
        }

        var output = ResolvePath(Path);
        var report = RunEngine(async context =>
        {
            var attempt = IncidentReportWriter.FindAttempt(context.State, AttemptId, AttemptId is null ? TargetKey : null);
            var where = output ?? context.State.ReportsDirectory;
            return await context.Observer.ShouldProcessAsync(attempt.TargetKey, $"Write the incident report of attempt {attempt.AttemptId} to {where}").ConfigureAwait(false)
                ? IncidentReportWriter.Write(context.State, attempt, output, html: Format.Equals("Html", StringComparison.OrdinalIgnoreCase))
                : null;
        });
        if (report is not null)
        {
            WriteObject(report);
        }
    }
}
