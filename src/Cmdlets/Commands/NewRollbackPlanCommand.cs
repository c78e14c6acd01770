using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>
/// Writes a plan file (rollback.psd1) for a service: the components found in its folder (a Git checkout, a Compose
/// project, a FeatureManagement appsettings.json, a Django or Alembic project) filled in, the others as comments.
/// </summary>
[Cmdlet(VerbsCommon.New, "RollbackPlan", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(FileInfo))]
public sealed class NewRollbackPlanCommand : RollbackCmdletBase
{
    /// <summary>The service's name (the plan's key in the journal).</summary>
    [Parameter(Position = 0, Mandatory = true)]
    [ValidatePattern(@"^[^\s/\\:]+$")]
    public string Service { get; set; } = "";

    /// <summary>The plan file to write; rollback.psd1 in the current folder when not given. Components are looked for in its folder.</summary>
    [Parameter(Position = 1)]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>The service's health endpoint, written as the plan's HealthCheckUri.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? HealthCheckUri { get; set; }

    /// <summary>Overwrite an existing plan file.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        var file = ResolvePath(Path ?? "rollback.psd1")!;
        try
        {
            if (HealthCheckUri is not null)
            {
                HealthCheckOptions.ParseUri(HealthCheckUri);
            }

            if (File.Exists(file) && !Force)
            {
                throw new RollbackException(ErrorIds.PlanFileExists, RollbackErrorKind.InvalidOperation,
                    $"{file} already exists and was left as it is. Pass -Force to overwrite it, or -Path to write another file.") { TargetName = file };
            }
        }
        catch (RollbackException e)
        {
            ThrowTerminatingError(ToErrorRecord(e));
        }

        var text = PlanScaffold.Write(Service, System.IO.Path.GetDirectoryName(file)!, HealthCheckUri, out var found);
        if (!ShouldProcess(file, $"Write a plan for {Service} with {(found.Count == 0 ? "no component found (examples as comments)" : string.Join(", ", found))}"))
        {
            return;
        }

        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(file)!);
        File.WriteAllText(file, text);
        if (found.Count == 0)
        {
            WriteWarning($"No component was found in {System.IO.Path.GetDirectoryName(file)}: uncomment and fill in the examples in {file}, then check it with Test-RollbackPlan.");
        }

        WriteObject(new FileInfo(file));
    }
}
