using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>
/// Breaks a target's lock whose holder is stuck or gone. The holder's fencing token is superseded, so a run that
/// still lives has its later journal records refused; the break is journaled with who did it.
/// </summary>
[Cmdlet(VerbsCommon.Unlock, "RollbackTarget", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(RollbackLock))]
public sealed class UnlockRollbackTargetCommand : RollbackCmdletBase
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string TargetKey { get; set; } = "";

    /// <summary>Break the lock without asking for confirmation.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        var whatIf = MyInvocation.BoundParameters.TryGetValue("WhatIf", out var value) && LanguagePrimitives.IsTrue(value);
        var broken = RunEngine(context => StateAdmin.BreakLockAsync(TargetKey, Force && !whatIf, context));
        if (broken is not null)
        {
            WriteObject(broken);
        }
    }
}
