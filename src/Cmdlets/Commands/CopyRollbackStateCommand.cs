using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>
/// Copies a local state folder (journal, verified-good snapshots, checkpoints, signals, reports) into a shared store.
/// Records the store already has are skipped, so it can be run again safely; the folder is left as it was.
/// </summary>
[Cmdlet(VerbsCommon.Copy, "RollbackState", SupportsShouldProcess = true)]
[OutputType(typeof(StateCopyResult))]
public sealed class CopyRollbackStateCommand : RollbackCmdletBase
{
    /// <summary>The local state folder to copy from (default: the one -StateDirectory or $env:DEPLOYMENT_ROLLBACK_HOME names).</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    public string? From { get; set; }

    /// <summary>The shared store to copy into: a postgresql:// address, an Npgsql or Azure Storage connection string, or a blob container URL.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string To { get; set; } = "";

    protected override void ProcessRecord()
    {
        var folder = StateRoot.ResolveDirectory(ResolvePath(From ?? StateDirectory));
        if (!File.Exists(Path.Combine(folder, "journal.db")))
        {
            ThrowTerminatingError(ToErrorRecord(new RollbackException(ErrorIds.StateDirectoryUnusable, RollbackErrorKind.ObjectNotFound,
                $"'{folder}' holds no state of this module (no journal.db). Pass -From with the folder Invoke-Rollback used (its -StateDirectory or $env:DEPLOYMENT_ROLLBACK_HOME).")));
        }

        var destination = StateStoreAddress.Parse(To, StateStoreCredential?.GetNetworkCredential());
        if (!ShouldProcess(destination.Location, $"Copy the state in {folder} into it"))
        {
            return;
        }

        var cache = Path.Combine(Path.GetTempPath(), "deployment-rollback-copy-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            using var from = StateRoot.Open(folder);
            using var to = StateRoot.Open(cache, destination);
            WriteObject(RunEngine(context => Task.FromResult(StateAdmin.Copy(from, to, context.Observer)), from));
        }
        finally
        {
            if (Directory.Exists(cache))
            {
                Directory.Delete(cache, recursive: true);
            }
        }
    }
}
