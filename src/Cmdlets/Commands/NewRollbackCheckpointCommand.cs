using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>Saves the current (failed) state for forensics under checkpoints/&lt;name&gt;/.</summary>
[Cmdlet(VerbsCommon.New, "RollbackCheckpoint", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(RollbackCheckpoint), typeof(RollbackAssessment))]
public sealed class NewRollbackCheckpointCommand : TargetCmdletBase
{
    /// <summary>An assessment from Get-RollbackAssessment; with -PassThru it is passed on, carrying the checkpoint.</summary>
    [Parameter(ValueFromPipeline = true)]
    public RollbackAssessment? Assessment { get; set; }

    /// <summary>The checkpoint's name; pre-rollback-&lt;unix seconds&gt; when not given.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CheckpointName { get; set; }

    /// <summary>A folder to write the checkpoint to instead of the state folder; a shared store keeps only its manifest.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CheckpointDirectory { get; set; }

    /// <summary>Outputs the piped assessment (with its Checkpoint set) instead of the checkpoint.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var request = new RollbackRequest { Deployment = BuildTarget(Assessment?.Deployment)!, CheckpointName = CheckpointName, CheckpointDirectory = ResolvePath(CheckpointDirectory) };
        var checkpoint = RunEngine(context => RollbackEngine.CreateCheckpointAsync(request, context));
        if (checkpoint is null)
        {
            // Under -WhatIf the assessment still flows on, so the rest of the pipeline can show its own what-if.
            if (PassThru && Assessment is not null)
            {
                WriteObject(Assessment);
            }

            return;
        }

        if (PassThru && Assessment is not null)
        {
            Assessment.Checkpoint = checkpoint;
            WriteObject(Assessment);
        }
        else
        {
            WriteObject(checkpoint);
        }
    }
}
