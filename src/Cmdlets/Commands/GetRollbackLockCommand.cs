using System.Management.Automation;

namespace DeploymentRollback.Commands;

/// <summary>Lists the target locks held now in the state store: who holds them, since when, and their fencing tokens.</summary>
[Cmdlet(VerbsCommon.Get, "RollbackLock")]
[OutputType(typeof(RollbackLock))]
public sealed class GetRollbackLockCommand : RollbackCmdletBase
{
    /// <summary>Only this target's lock.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? TargetKey { get; set; }

    protected override void ProcessRecord() =>
        WriteObject(RunEngine(context => Task.FromResult(context.State.Store.GetLocks().Where(l => TargetKey is null || l.TargetKey == TargetKey).ToList())), enumerateCollection: true);
}
