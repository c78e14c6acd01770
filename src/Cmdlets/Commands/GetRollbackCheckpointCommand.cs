using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>Lists the checkpoints kept in the state directory, newest first.</summary>
[Cmdlet(VerbsCommon.Get, "RollbackCheckpoint")]
[OutputType(typeof(RollbackCheckpoint))]
public sealed class GetRollbackCheckpointCommand : RollbackCmdletBase
{
    /// <summary>A checkpoint name; wildcards allowed.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    /// <summary>Only checkpoints of this target (as in TargetKey, e.g. git:/srv/app).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? TargetKey { get; set; }

    protected override void ProcessRecord()
    {
        var pattern = Name is null ? null : WildcardPattern.Get(Name, WildcardOptions.IgnoreCase);
        var found = RunEngine(context => Task.FromResult(new CheckpointStore(context.State).List(TargetKey, context.Observer)))
            .Where(c => pattern is null || pattern.IsMatch(c.Name)).ToList();
        if (found.Count == 0 && Name is not null && !WildcardPattern.ContainsWildcardCharacters(Name))
        {
            WriteError(ToErrorRecord(new RollbackException(ErrorIds.CheckpointNotFound, RollbackErrorKind.ObjectNotFound,
                $"No checkpoint named '{Name}' was found. List them all with Get-RollbackCheckpoint.") { TargetName = Name }));
            return;
        }

        WriteObject(found, enumerateCollection: true);
    }
}
